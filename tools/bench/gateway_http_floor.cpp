// The HTTP floor of scripts/bench_gateway.sh: the least CPU a keep-alive HTTP/1.1
// request can cost on this machine. One thread, epoll, non-blocking sockets; it
// answers every request (the end of its header block) with a fixed 200 and reads
// nothing else: no parser, no allocation per request, no timers. What it spends
// is the kernel's loopback TCP path and the system calls, which every server pays;
// what the gateway spends above it is its own.
//
// Prints its URL (http://127.0.0.1:PORT) on stdout and serves until killed.
// Built by the script with the system compiler; no capi code in it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <unordered_map>

int main() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener, 1024) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        std::perror("gateway_http_floor: listen");
        return 1;
    }
    std::printf("http://127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    const int ep = ::epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listener;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    static constexpr char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\nok\n";
    // Per connection: the unfinished tail of a request (pipelined or split reads).
    std::unordered_map<int, std::string> pending;
    epoll_event events[64];
    static char buf[1 << 16];
    const int one = 1;
    for (;;) {
        const int n = ::epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == listener) {
                for (int c; (c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
                    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    epoll_event e{};
                    e.events = EPOLLIN;
                    e.data.fd = c;
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                }
                continue;
            }
            const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
            if (r <= 0) {
                ::close(fd);
                pending.erase(fd);
                continue;
            }
            std::string& in = pending[fd];
            in.append(buf, static_cast<std::size_t>(r));
            std::string out;
            for (std::size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
                in.erase(0, end + 4);
                out.append(answer, sizeof answer - 1);
            }
            if (!out.empty()) ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        }
    }
}
