// The sk-lookup backend's BPF program: runs when the kernel looks for the socket that should
// receive a new connection (or a UDP datagram) addressed to this host, and hands it to the
// proxy's listener when the destination port is one tplab intercepts and the destination
// address lies in one of its prefixes. No netfilter rule and no conntrack entry is involved; the
// routing part (`tplab rules --mode sk-lookup`) only makes the intercepted addresses local so
// that this lookup happens at all (docs/sk-lookup.md).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TPLAB_AF_INET 2
#define TPLAB_AF_INET6 10
#define TPLAB_IPPROTO_UDP 17

// (protocol << 16 | destination port, host order) -> 1: what to steer. Filled by tplab proxy.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);  // kMaxSteeredPorts in sk_lookup_program.hpp
    __type(key, __u32);
    __type(value, __u8);
} tplab_ports SEC(".maps");

// The destination prefixes to steer (--prefix; without it 0.0.0.0/0 and ::/0), one trie per
// family: the key is a length and the address's bytes in network order, as the context has them.
struct tplab_prefix4 {
    __u32 prefixlen;
    __u8 address[4];
};
struct tplab_prefix6 {
    __u32 prefixlen;
    __u8 address[16];
};
struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 1024);  // kMaxSteeredPrefixes in sk_lookup_prefix.hpp
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct tplab_prefix4);
    __type(value, __u8);
} tplab_prefixes4 SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 1024);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct tplab_prefix6);
    __type(value, __u8);
} tplab_prefixes6 SEC(".maps");

// The proxy's sockets: 0 TCP/IPv4, 1 TCP/IPv6, 2 UDP/IPv4, 3 UDP/IPv6. A dual-stack IPv6
// socket may fill an IPv4 slot too. With SO_REUSEPORT workers, one socket of the group is
// enough: the kernel picks among the group after the program chose it.
struct {
    __uint(type, BPF_MAP_TYPE_SOCKMAP);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} tplab_sockets SEC(".maps");

// What the program did, per CPU, for connections to a steered port: 0 steered, 1 no socket for
// the slot, 2 bpf_sk_assign failed, 3 the destination is in none of the prefixes (passed on).
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} tplab_counters SEC(".maps");

static void count(__u32 what) {
    __u64* counter = bpf_map_lookup_elem(&tplab_counters, &what);
    if (counter) {
        *counter += 1;
    }
}

static int in_steered_prefix(struct bpf_sk_lookup* ctx) {
    if (ctx->family == TPLAB_AF_INET) {
        struct tplab_prefix4 key = {.prefixlen = 32};
        __u32 ip4 = ctx->local_ip4;
        __builtin_memcpy(key.address, &ip4, sizeof(ip4));
        return bpf_map_lookup_elem(&tplab_prefixes4, &key) != 0;
    }
    struct tplab_prefix6 key = {.prefixlen = 128};
    __u32 ip6[4] = {ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2], ctx->local_ip6[3]};
    __builtin_memcpy(key.address, ip6, sizeof(ip6));
    return bpf_map_lookup_elem(&tplab_prefixes6, &key) != 0;
}

SEC("sk_lookup")
int tplab_steer(struct bpf_sk_lookup* ctx) {
    __u32 key = (ctx->protocol << 16) | ctx->local_port;
    if (!bpf_map_lookup_elem(&tplab_ports, &key)) {
        return SK_PASS;  // not intercepted: the usual socket lookup decides
    }
    if (!in_steered_prefix(ctx)) {
        count(3);
        return SK_PASS;  // e.g. the gateway's own address: its own services keep the port
    }
    __u32 slot = (ctx->protocol == TPLAB_IPPROTO_UDP ? 2 : 0) +
                 (ctx->family == TPLAB_AF_INET6 ? 1 : 0);
    struct bpf_sock* sk = bpf_map_lookup_elem(&tplab_sockets, &slot);
    if (!sk) {
        count(1);
        return SK_PASS;
    }
    long err = bpf_sk_assign(ctx, sk, 0);
    bpf_sk_release(sk);
    count(err == 0 ? 0 : 2);
    return SK_PASS;
}

// bpf_sk_assign() and the sockmap helpers are for GPL-compatible programs only.
char LICENSE[] SEC("license") = "GPL";
