// The event shapes that docs/events.md promises.
#include "events_json.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "private_file.hpp"

namespace tplab {
namespace {

TEST(EventsJson, AcceptedNamesClientListenerLocalDestinationAndMethod) {
    DestinationLookup lookup;
    lookup.destination = Endpoint::parse("198.51.100.2:80");
    lookup.method = "SO_ORIGINAL_DST";
    auto event =
        acceptedEvent(7, "redirect", Endpoint::parse("192.0.2.2:40000"),
                      Endpoint::parse("[::]:15001"), Endpoint::parse("192.0.2.1:15001"), lookup);
    EXPECT_EQ(event["event"], "accepted");
    EXPECT_EQ(event["id"], 7);
    EXPECT_EQ(event["mode"], "redirect");
    EXPECT_EQ(event["client"], "192.0.2.2:40000");
    EXPECT_EQ(event["listener"], "[::]:15001");
    EXPECT_EQ(event["local"], "192.0.2.1:15001");
    EXPECT_EQ(event["original_dst"], "198.51.100.2:80");
    EXPECT_EQ(event["recovered_by"], "SO_ORIGINAL_DST");
    EXPECT_FALSE(event.contains("lookup_error"));
    EXPECT_EQ(event.begin().key(), "event") << "event must be the first key of each line";
}

TEST(EventsJson, AcceptedWithoutDestinationHasNullAndTheError) {
    DestinationLookup lookup;
    lookup.method = "SO_ORIGINAL_DST";
    lookup.notRedirected = true;
    lookup.failure = "getsockopt(...): No such file or directory";
    auto event =
        acceptedEvent(1, "redirect", Endpoint::parse("192.0.2.2:1"),
                      Endpoint::parse("0.0.0.0:15001"), Endpoint::parse("192.0.2.1:15001"), lookup);
    EXPECT_TRUE(event["original_dst"].is_null());
    EXPECT_EQ(event["lookup_error"], lookup.failure);
}

TEST(EventsJson, ConnectedNamesBothEndsOfTheUpstreamSocket) {
    auto event = connectedEvent(3, Endpoint::parse("198.51.100.1:5000"),
                                Endpoint::parse("198.51.100.2:80"), 1.5);
    EXPECT_EQ(event["event"], "connected");
    EXPECT_EQ(event["upstream_local"], "198.51.100.1:5000");
    EXPECT_EQ(event["upstream_peer"], "198.51.100.2:80");
    EXPECT_DOUBLE_EQ(event["connect_ms"].get<double>(), 1.5);
}

TEST(EventsJson, ClosedCarriesReasonBytesAndDuration) {
    auto event = closedEvent(3, CloseReason::ConnectRefused, 10, 20, 4.25, "connect(...): refused");
    EXPECT_EQ(event["event"], "closed");
    EXPECT_EQ(event["reason"], "connect_refused");
    EXPECT_EQ(event["bytes_client_to_upstream"], 10);
    EXPECT_EQ(event["bytes_upstream_to_client"], 20);
    EXPECT_DOUBLE_EQ(event["duration_ms"].get<double>(), 4.25);
    EXPECT_EQ(event["detail"], "connect(...): refused");
    EXPECT_FALSE(closedEvent(3, CloseReason::Normal, 0, 0, 1, "").contains("detail"));
}

TEST(EventsJson, EveryCloseReasonHasADistinctSnakeCaseName) {
    std::set<std::string> names;
    for (auto reason : kAllCloseReasons) {
        std::string name(toString(reason));
        EXPECT_TRUE(std::regex_match(name, std::regex("[a-z_]+"))) << name;
        names.insert(name);
    }
    EXPECT_EQ(names.size(), std::size(kAllCloseReasons));
}

TEST(EventsJson, StatsCountsEveryReason) {
    ProxyStats stats;
    stats.accepted = 5;
    stats.active = 1;
    stats.closedFor(CloseReason::LoopRefused) = 2;
    auto event = statsEvent("SIGUSR1", stats);
    EXPECT_EQ(event["event"], "stats");
    EXPECT_EQ(event["trigger"], "SIGUSR1");
    EXPECT_EQ(event["accepted"], 5);
    EXPECT_EQ(event["active"], 1);
    EXPECT_EQ(event["closed"]["loop_refused"], 2);
    EXPECT_EQ(event["closed"].size(), std::size(kAllCloseReasons));
}

TEST(EventsJson, SinkWritesOneLinePerEventWithATimestamp) {
    char path[] = "/tmp/tplab-events-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    {
        EventSink sink(path);
        sink.write(listeningEvent("tproxy", Endpoint::parse("0.0.0.0:15002")));
        sink.write(statsEvent("exit", ProxyStats{}));
    }
    std::ifstream in(path);
    std::string line;
    std::vector<Json> lines;
    while (std::getline(in, line)) {
        lines.push_back(Json::parse(line));
    }
    ::unlink(path);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["event"], "listening");
    EXPECT_TRUE(std::regex_match(lines[0]["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    EXPECT_EQ(lines[1]["event"], "stats");
}

TEST(EventsJson, SinkOnAMissingDirectoryIsABadPath) {
    EXPECT_THROW(EventSink("/nonexistent-dir/events.jsonl"), UnsafePathError);
}

// --events as root: the file is opened so that another local user cannot choose which file root
// appends to. Each refusal is an UnsafePathError (tplab exits 2) and leaves the target alone.
class EventsFile : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/tplab-events-dir-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir = pattern;
    }
    void TearDown() override { std::system(("rm -rf " + dir).c_str()); }

    std::string path(const std::string& name) const { return dir + "/" + name; }
    void makeFile(const std::string& name, mode_t mode = 0600) const {
        Fd fd(::open(path(name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
        ASSERT_TRUE(fd.valid());
        ASSERT_EQ(::fchmod(fd.get(), mode), 0);
    }
    static off_t sizeOf(const std::string& file) {
        struct stat info {};
        return ::stat(file.c_str(), &info) == 0 ? info.st_size : -1;
    }
    // The error message of opening `file` as an event sink, "" when it opened.
    static std::string refusal(const std::string& file) {
        try {
            EventSink sink(file);
            return "";
        } catch (const UnsafePathError& e) {
            return e.what();
        }
    }
    static bool isRoot() { return ::geteuid() == 0; }

    std::string dir;
};

TEST_F(EventsFile, AMissingFileIsCreatedPrivate) {
    {
        EventSink sink(path("events.jsonl"));
        sink.write(listeningEvent("redirect", Endpoint::parse("0.0.0.0:15001")));
    }
    struct stat info {};
    ASSERT_EQ(::stat(path("events.jsonl").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0600u);
    EXPECT_EQ(info.st_uid, ::geteuid());
    EXPECT_GT(info.st_size, 0);
}

TEST_F(EventsFile, AnExistingPrivateFileIsAppendedTo) {
    makeFile("events.jsonl", 0644);
    { EventSink(path("events.jsonl")).write(statsEvent("exit", ProxyStats{})); }
    off_t first = sizeOf(path("events.jsonl"));
    { EventSink(path("events.jsonl")).write(statsEvent("exit", ProxyStats{})); }
    EXPECT_GT(first, 0);
    EXPECT_EQ(sizeOf(path("events.jsonl")), 2 * first);
}

TEST_F(EventsFile, ASymlinkIsRefusedAndItsTargetLeftAlone) {
    makeFile("target");
    ASSERT_EQ(::symlink(path("target").c_str(), path("link").c_str()), 0);
    EXPECT_NE(refusal(path("link")).find("symbolic link"), std::string::npos);
    EXPECT_EQ(sizeOf(path("target")), 0);
}

TEST_F(EventsFile, ADanglingSymlinkIsRefusedAndNothingIsCreated) {
    ASSERT_EQ(::symlink(path("would-be-created").c_str(), path("link").c_str()), 0);
    EXPECT_NE(refusal(path("link")).find("symbolic link"), std::string::npos);
    EXPECT_EQ(sizeOf(path("would-be-created")), -1);
}

TEST_F(EventsFile, AFifoIsRefusedWithoutBlocking) {
    ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
    EXPECT_NE(refusal(path("fifo")).find("a FIFO, not a regular file"), std::string::npos);
}

TEST_F(EventsFile, ADirectoryAndADeviceAreRefused) {
    EXPECT_NE(refusal(dir).find("a directory"), std::string::npos);
    EXPECT_NE(refusal(dir + "/").find("names a directory"), std::string::npos);
    EXPECT_NE(refusal("/dev/null").find("a character device"), std::string::npos);
}

TEST_F(EventsFile, AGroupOrOtherWritableFileIsRefused) {
    makeFile("group", 0620);
    makeFile("other", 0602);
    EXPECT_NE(refusal(path("group")).find("writable by group or others (mode 0620)"),
              std::string::npos);
    EXPECT_NE(refusal(path("other")).find("mode 0602"), std::string::npos);
}

TEST_F(EventsFile, AFileWithASecondHardLinkIsRefused) {
    makeFile("original");
    ASSERT_EQ(::link(path("original").c_str(), path("second-name").c_str()), 0);
    EXPECT_NE(refusal(path("second-name")).find("2 hard links"), std::string::npos);
    EXPECT_EQ(sizeOf(path("original")), 0);
}

TEST_F(EventsFile, AFileOfAnotherUserIsRefused) {
    if (!isRoot()) {
        GTEST_SKIP() << "needs root to give a file to another user";
    }
    makeFile("theirs");
    ASSERT_EQ(::chown(path("theirs").c_str(), 65534, 65534), 0);
    EXPECT_NE(refusal(path("theirs")).find("belongs to uid 65534"), std::string::npos);
}

TEST_F(EventsFile, InAStickyWorldWritableDirectoryOnlyOurOwnFileIsAccepted) {
    if (!isRoot()) {
        GTEST_SKIP() << "needs root to give a file to another user";
    }
    ASSERT_EQ(::chmod(dir.c_str(), 01777), 0);  // like /tmp
    makeFile("theirs");
    ASSERT_EQ(::chown(path("theirs").c_str(), 65534, 65534), 0);
    EXPECT_NE(refusal(path("theirs")).find("belongs to uid 65534"), std::string::npos);
    EXPECT_EQ(refusal(path("ours")), "");
}

TEST_F(EventsFile, AWorldWritableDirectoryWithoutTheStickyBitIsRefused) {
    ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
    EXPECT_NE(refusal(path("events.jsonl")).find("without the sticky bit"), std::string::npos);
    EXPECT_EQ(sizeOf(path("events.jsonl")), -1);
}

TEST_F(EventsFile, ADirectoryOfAnotherUserIsRefused) {
    if (!isRoot()) {
        GTEST_SKIP() << "needs root to give a directory to another user";
    }
    ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
    EXPECT_NE(refusal(path("events.jsonl")).find("its directory belongs to uid 65534"),
              std::string::npos);
}

// The writer thread: a stalled reader costs dropped lines, never a blocked caller.
struct Pipe {
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) == 0) {
            readEnd.reset(fds[0]);
            writeEnd.reset(fds[1]);
        }
    }
    Fd readEnd;
    Fd writeEnd;
};

std::vector<Json> readLines(int fd, char* lastByte = nullptr) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    std::string text;
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;) {
        text.append(buffer, static_cast<std::size_t>(n));
    }
    if (lastByte != nullptr && !text.empty()) {
        *lastByte = text.back();
    }
    std::vector<Json> lines;
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
        lines.push_back(Json::parse(text.substr(start, end - start)));
    }
    return lines;
}

TEST(EventSinkWriter, AReaderThatStopsReadingNeverBlocksTheWritersAndDropsAreCounted) {
    Pipe pipe;
    ASSERT_TRUE(pipe.writeEnd.valid());
    constexpr int kThreads = 4;
    constexpr int kEventsPerThread = 5000;  // ~600 KB per thread; queue 256 KiB, pipe 64 KiB
    // Nobody reads the pipe, so a writer that blocked on it would block for ever. The watchdog
    // turns that hang into a failure: only if the writers are still stuck after a minute
    // (a deadline no honest run comes near, even under ASan on a busy machine) does it drain
    // the pipe so they can return. It is a hang detector, not a speed test.
    std::atomic<bool> finished{false};
    std::atomic<bool> watchdogHadToDrain{false};
    std::thread watchdog([&] {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!finished && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!finished) {
            watchdogHadToDrain = true;
            char sink[65536];
            while (!finished) {
                (void)!::read(pipe.readEnd.get(), sink, sizeof(sink));
            }
        }
    });
    std::uint64_t droppedBeforeClose = 0;
    {
        EventSink sink(std::move(pipe.writeEnd), EventSink::Start::Now, 256 * 1024,
                       std::chrono::milliseconds(100));
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&sink, t] {
                for (int i = 0; i < kEventsPerThread; ++i) {
                    sink.write(closedEvent(static_cast<std::uint64_t>(t * kEventsPerThread + i),
                                           CloseReason::Normal, 1, 2, 3.0, ""));
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
        droppedBeforeClose = sink.dropped();
        sink.write(statsEvent("exit", ProxyStats{}));
    }
    finished = true;
    watchdog.join();
    EXPECT_FALSE(watchdogHadToDrain) << "writers or the close blocked on a reader that stopped";
    EXPECT_GT(droppedBeforeClose, 0u);

    // What reached the pipe is whole lines (no torn or interleaved JSON), up to a line end.
    char last = 0;
    ASSERT_EQ(::fcntl(pipe.readEnd.get(), F_SETFL, O_NONBLOCK), 0);
    auto lines = readLines(pipe.readEnd.get(), &last);
    EXPECT_EQ(last, '\n');
    ASSERT_FALSE(lines.empty());
    EXPECT_LT(lines.size(), std::size_t{kThreads * kEventsPerThread});
    for (const auto& line : lines) {
        EXPECT_EQ(line["event"], "closed");
    }
}

TEST(EventSinkWriter, StatsEventsCarryTheDropCountAndAreQueuedEvenWhenFull) {
    Pipe pipe;
    ASSERT_TRUE(pipe.writeEnd.valid());
    int readFd = pipe.readEnd.get();
    EventSink sink(std::move(pipe.writeEnd), EventSink::Start::Later, 1024);
    for (int i = 0; i < 100; ++i) {  // nothing is written before startWriter(): 1 KiB fits ~7
        sink.write(closedEvent(static_cast<std::uint64_t>(i), CloseReason::Normal, 0, 0, 1, ""));
    }
    std::uint64_t dropped = sink.dropped();
    EXPECT_GT(dropped, 80u);
    EXPECT_LT(dropped, 100u);
    sink.write(statsEvent("SIGUSR1", ProxyStats{}));
    sink.startWriter();
    sink = EventSink();  // closes: flushes what is queued
    auto lines = readLines(readFd);
    ASSERT_EQ(lines.size(), 100 - dropped + 1);
    EXPECT_EQ(lines.back()["event"], "stats");
    EXPECT_EQ(lines.back()["events_dropped"], dropped);
    EXPECT_EQ(std::prev(lines.back().end()).key(), "time");
}

TEST(EventSinkWriter, ManyThreadsWritingToAFileGiveWholeLinesAndLoseNone) {
    char path[] = "/tmp/tplab-events-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    {
        EventSink sink(path);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&sink, t] {
                for (int i = 0; i < 2000; ++i) {
                    sink.write(connectedEvent(static_cast<std::uint64_t>(t * 2000 + i),
                                              Endpoint::parse("198.51.100.1:5000"),
                                              Endpoint::parse("198.51.100.2:80"), 0.5));
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
        EXPECT_EQ(sink.dropped(), 0u);
    }
    std::ifstream in(path);
    std::set<std::uint64_t> ids;
    for (std::string line; std::getline(in, line);) {
        ids.insert(Json::parse(line)["id"].get<std::uint64_t>());
    }
    ::unlink(path);
    EXPECT_EQ(ids.size(), 8000u);
}

}  // namespace
}  // namespace tplab
