// Why a proxied connection ended, as events and stats name it.
#pragma once

#include <string_view>

namespace tplab {

enum class CloseReason {
    Normal,           // both sides finished (FIN each way)
    ClientReset,      // the client reset; the upstream was reset too
    UpstreamReset,    // the upstream reset; the client was reset too
    ConnectRefused,   // the upstream refused (RST to our SYN); the client was reset
    ConnectTimeout,   // no answer within --connect-timeout; the client was reset
    ConnectFailed,    // any other connect error (unreachable, SO_MARK refused...)
    NotRedirected,    // the kernel says the connection was never intercepted
    LoopRefused,      // the destination is the proxy itself, or the client is the proxy's upstream
    LookupFailed,     // recovering the original destination failed for another reason
    HandshakeFailed,  // an explicit-proxy client's handshake was malformed, refused or cut short
    IdleTimeout,      // nothing moved for --idle-timeout; both sides were reset
    DrainTimeout,     // still open when --drain-timeout ran out at shutdown; both sides were reset
    Stopped,          // a UDP session open when the proxy stopped (UDP has no end to wait for)
    ProxyError,  // the proxy itself failed for this connection (no memory, epoll_ctl); both reset
    Evicted,     // a UDP session closed to make room for a new flow (a limit was reached)
    NotAllowed,  // --allow-client, --allow-dest/--deny-dest or a default denial refused it
};

constexpr std::string_view toString(CloseReason reason) {
    switch (reason) {
        case CloseReason::Normal:
            return "normal";
        case CloseReason::ClientReset:
            return "client_reset";
        case CloseReason::UpstreamReset:
            return "upstream_reset";
        case CloseReason::ConnectRefused:
            return "connect_refused";
        case CloseReason::ConnectTimeout:
            return "connect_timeout";
        case CloseReason::ConnectFailed:
            return "connect_failed";
        case CloseReason::NotRedirected:
            return "not_redirected";
        case CloseReason::LoopRefused:
            return "loop_refused";
        case CloseReason::LookupFailed:
            return "lookup_failed";
        case CloseReason::HandshakeFailed:
            return "handshake_failed";
        case CloseReason::IdleTimeout:
            return "idle_timeout";
        case CloseReason::DrainTimeout:
            return "drain_timeout";
        case CloseReason::Stopped:
            return "stopped";
        case CloseReason::ProxyError:
            return "proxy_error";
        case CloseReason::Evicted:
            return "evicted";
        case CloseReason::NotAllowed:
            return "not_allowed";
    }
    return "unknown";
}

inline constexpr CloseReason kAllCloseReasons[] = {
    CloseReason::Normal,          CloseReason::ClientReset,    CloseReason::UpstreamReset,
    CloseReason::ConnectRefused,  CloseReason::ConnectTimeout, CloseReason::ConnectFailed,
    CloseReason::NotRedirected,   CloseReason::LoopRefused,    CloseReason::LookupFailed,
    CloseReason::HandshakeFailed, CloseReason::IdleTimeout,    CloseReason::DrainTimeout,
    CloseReason::Stopped,         CloseReason::ProxyError,     CloseReason::Evicted,
    CloseReason::NotAllowed,
};

}  // namespace tplab
