#include "tcp_store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <gloo/common/error.h>

namespace gid {
namespace {

using clock = std::chrono::steady_clock;

[[noreturn]] void io_error(const std::string& what) {
    throw gloo::IoException(what + ": " + std::strerror(errno));
}

// Moves exactly n bytes through `io(offset, remaining)` (a recv or a send); false when the peer
// closed the connection or the socket failed.
template <typename Io>
bool transfer(size_t n, Io io) {
    size_t done = 0;
    while (done < n) {
        const ssize_t r = io(done, n - done);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            return false;
        }
        done += static_cast<size_t>(r);
    }
    return true;
}

bool read_all(int fd, void* buf, size_t n) {
    auto* p = static_cast<char*>(buf);
    return transfer(n, [&](size_t at, size_t len) { return ::recv(fd, p + at, len, 0); });
}

bool write_all(int fd, const void* buf, size_t n) {
    const auto* p = static_cast<const char*>(buf);
    return transfer(n, [&](size_t at, size_t len) { return ::send(fd, p + at, len, MSG_NOSIGNAL); });
}

bool write_blob(int fd, const std::string& s) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    return write_all(fd, &n, 4) && write_all(fd, s.data(), s.size());
}

bool read_blob(int fd, std::string& s) {
    uint32_t n = 0;
    if (!read_all(fd, &n, 4)) return false;
    s.resize(n);
    return read_all(fd, s.data(), n);
}

sockaddr_storage resolve(const std::string& host, int port, socklen_t& len) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0 || res == nullptr)
        throw gloo::IoException("rendezvous address " + host + ":" + std::to_string(port) + " does not resolve: " + gai_strerror(rc));
    sockaddr_storage out{};
    std::memcpy(&out, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    ::freeaddrinfo(res);
    return out;
}

}  // namespace

tcp_store::tcp_store(const std::string& host, int port, bool serve, std::chrono::milliseconds timeout)
    : host_(host), port_(port), timeout_(timeout) {
    socklen_t len = 0;
    auto addr = resolve(host, port, len);
    if (serve) {
        listener_ = ::socket(addr.ss_family, SOCK_STREAM, 0);
        if (listener_ < 0) io_error("rendezvous socket");
        int one = 1;
        ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
            const int e = errno;
            ::close(listener_);
            errno = e;
            io_error("rank 0 cannot serve the rendezvous at " + host + ":" + std::to_string(port));
        }
        ::listen(listener_, 128);
        server_ = std::thread([this] { serve_loop(); });
    }
    // Connect as a client, retrying until rank 0 listens or the deadline passes.
    const auto deadline = clock::now() + timeout_;
    for (;;) {
        client_ = ::socket(addr.ss_family, SOCK_STREAM, 0);
        if (client_ < 0) io_error("rendezvous socket");
        if (::connect(client_, reinterpret_cast<sockaddr*>(&addr), len) == 0) break;
        const int e = errno;
        ::close(client_);
        client_ = -1;
        if (clock::now() > deadline) {
            errno = e;
            io_error("no rendezvous server (rank 0) at " + host + ":" + std::to_string(port) + " within " +
                     std::to_string(timeout_.count()) + " ms");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    int one = 1;
    ::setsockopt(client_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

tcp_store::~tcp_store() {
    if (client_ >= 0) ::close(client_);
    if (listener_ >= 0) {
        stopping_ = true;
        ::shutdown(listener_, SHUT_RDWR);
        ::close(listener_);
        server_.join();
        for (int fd : handler_fds_) ::shutdown(fd, SHUT_RDWR);
        for (auto& t : handlers_) t.join();
        for (int fd : handler_fds_) ::close(fd);
    }
}

void tcp_store::serve_loop() {
    while (!stopping_) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) {
            if (stopping_) return;
            if (errno == EINTR) continue;
            return;
        }
        handler_fds_.push_back(fd);
        handlers_.emplace_back([this, fd] { serve_client(fd); });
    }
}

// Requests: 'S' key value → 'k'; 'G' key → 'y' value | 'n'.
void tcp_store::serve_client(int fd) {
    for (;;) {
        char op = 0;
        std::string key;
        if (!read_all(fd, &op, 1) || !read_blob(fd, key)) return;
        if (op == 'S') {
            std::string value;
            if (!read_blob(fd, value)) return;
            {
                std::lock_guard<std::mutex> lock(data_mutex_);
                data_[key] = std::vector<char>(value.begin(), value.end());
            }
            if (!write_all(fd, "k", 1)) return;
        } else if (op == 'G') {
            std::vector<char> value;
            bool found = false;
            {
                std::lock_guard<std::mutex> lock(data_mutex_);
                auto it = data_.find(key);
                if (it != data_.end()) {
                    found = true;
                    value = it->second;
                }
            }
            if (!found) {
                if (!write_all(fd, "n", 1)) return;
            } else if (!write_all(fd, "y", 1) || !write_blob(fd, std::string(value.begin(), value.end()))) {
                return;
            }
        } else {
            return;
        }
    }
}

void tcp_store::set(const std::string& key, const std::vector<char>& data) {
    std::lock_guard<std::mutex> lock(client_mutex_);
    char ack = 0;
    if (!write_all(client_, "S", 1) || !write_blob(client_, key) || !write_blob(client_, std::string(data.begin(), data.end())) ||
        !read_all(client_, &ack, 1))
        throw gloo::IoException("lost the rendezvous server (rank 0) at " + host_ + ":" + std::to_string(port_));
}

bool tcp_store::has(const std::string& key) {
    std::lock_guard<std::mutex> lock(client_mutex_);
    char reply = 0;
    if (!write_all(client_, "G", 1) || !write_blob(client_, key) || !read_all(client_, &reply, 1))
        throw gloo::IoException("lost the rendezvous server (rank 0) at " + host_ + ":" + std::to_string(port_));
    if (reply != 'y') return false;
    std::string ignored;
    if (!read_blob(client_, ignored)) throw gloo::IoException("lost the rendezvous server (rank 0)");
    return true;
}

void tcp_store::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
    const auto deadline = clock::now() + timeout;
    for (const auto& key : keys) {
        while (!has(key)) {
            if (clock::now() > deadline)
                throw gloo::IoException("rendezvous: key '" + key + "' did not appear within " + std::to_string(timeout.count()) +
                                        " ms (a rank did not join)");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
}

std::vector<char> tcp_store::get(const std::string& key) {
    wait({key}, timeout_);
    std::lock_guard<std::mutex> lock(client_mutex_);
    char reply = 0;
    std::string value;
    if (!write_all(client_, "G", 1) || !write_blob(client_, key) || !read_all(client_, &reply, 1) || reply != 'y' ||
        !read_blob(client_, value))
        throw gloo::IoException("lost the rendezvous server (rank 0) at " + host_ + ":" + std::to_string(port_));
    return std::vector<char>(value.begin(), value.end());
}

}  // namespace gid
