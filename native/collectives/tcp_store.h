// A rendezvous store over TCP for Gloo (Debian's Gloo 0.5 ships file and Redis stores only):
// rank 0 serves a key/value map at MASTER_ADDR:MASTER_PORT; every rank (rank 0 included) is a
// client. Waiting for keys is polling with a deadline, so a missing rank is an error, not a hang.
#pragma once

#include <gloo/rendezvous/store.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gid {

class tcp_store : public gloo::rendezvous::Store {
public:
    tcp_store(const std::string& host, int port, bool serve, std::chrono::milliseconds timeout);
    ~tcp_store() override;

    void set(const std::string& key, const std::vector<char>& data) override;
    std::vector<char> get(const std::string& key) override;
    void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
    void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

private:
    bool has(const std::string& key);
    void serve_loop();
    void serve_client(int fd);

    std::string host_;
    int port_;
    std::chrono::milliseconds timeout_;
    int client_ = -1;
    std::mutex client_mutex_;
    // server side (rank 0 only)
    int listener_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread server_;
    std::vector<std::thread> handlers_;
    std::vector<int> handler_fds_;
    std::mutex data_mutex_;
    std::map<std::string, std::vector<char>> data_;
};

}  // namespace gid
