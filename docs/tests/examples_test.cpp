// The examples of docs/examples/, run as a user runs them: as child processes,
// configured only through their command line and CAPI_ACCESS_TOKEN, against
// MockGraphServer over real TLS on 127.0.0.1. The paths of the example programs
// come from the environment (docs/tests/meson.build). Every wait is bounded.
#include <capi/testing/mock_graph.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using steady = std::chrono::steady_clock;

namespace {

std::string program(const char* var) {
    const char* p = std::getenv(var);
    if (p == nullptr) FAIL(std::string(var) + " is not set (run through meson test)");
    return p;
}

/// A scratch directory, removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "capi_examples_XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return (path / name).string();
    }
};

/// A child process with its stdout on a pipe (stderr is inherited: it lands in the test log).
class Child {
public:
    Child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
          const std::string& stdin_file = {}) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        posix_spawn_file_actions_addclose(&actions, fds[1]);
        if (!stdin_file.empty()) posix_spawn_file_actions_addopen(&actions, 0, stdin_file.c_str(), O_RDONLY, 0);
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e)
            if (std::string_view(*e).substr(0, 18) != "CAPI_ACCESS_TOKEN=") env.emplace_back(*e);
        env.insert(env.end(), extra_env.begin(), extra_env.end());
        std::vector<char*> argv, envp;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);
        const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        out_ = fds[0];
        REQUIRE(rc == 0);
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) ::close(out_);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    /// Reads stdout until `pred(output)` holds, EOF, or `limit`; returns what was read.
    template <class Pred>
    std::string read_until(Pred pred, std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        while (!pred(output_)) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - steady::now());
            if (left <= 0ms) break;
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            char buf[4096];
            const auto n = ::read(out_, buf, sizeof buf);
            if (n <= 0) break;
            output_.append(buf, static_cast<std::size_t>(n));
        }
        return output_;
    }
    std::string read_all(std::chrono::milliseconds limit) {
        return read_until([](const std::string&) { return false; }, limit);
    }

    void signal(int signo) { ::kill(pid_, signo); }

    /// The exit status, or -1 when it did not exit within `limit` (then it is killed).
    int wait(std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        for (;;) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (steady::now() > end) return -1;
            std::this_thread::sleep_for(5ms);
        }
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string output_;
};

struct HttpReply {
    int status = 0;
    std::string head;  ///< the status line and headers
    std::string body;
    std::chrono::milliseconds took{};
};

/// One request over plain HTTP/1.1 on loopback (`request` ends with Connection:
/// close; reads until EOF). No Catch2 assertions inside (it runs on several
/// threads at once): a reply that did not arrive has status 0.
HttpReply http_exchange(unsigned short port, const std::string& req) {
    const auto start = steady::now();
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return {};
    }
    std::string raw;
    const auto end = steady::now() + 20s;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - steady::now()).count();
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        char buf[4096];
        const auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    HttpReply r;
    r.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
    if (raw.size() > 12 && raw.compare(0, 9, "HTTP/1.1 ") == 0) r.status = std::stoi(raw.substr(9, 3));
    if (auto at = raw.find("\r\n\r\n"); at != std::string::npos) {
        r.head = raw.substr(0, at);
        r.body = raw.substr(at + 4);
    }
    return r;
}

HttpReply post(unsigned short port, const std::string& target, const std::string& body) {
    return http_exchange(port, "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

/// A GET as a browser sends it: `headers` is extra header lines, each ending in \r\n.
HttpReply get(unsigned short port, const std::string& target, const std::string& headers = {}) {
    return http_exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "Connection: close\r\n\r\n");
}

std::string order_json(const std::string& id, const std::string& extra = {}) {
    return R"({"order_id":")" + id + R"(","email":"Ana@Example.com","phone":"+1 650 555 1212",)"
           R"("amount":49.9,"currency":"USD","items":[{"sku":"tee-blue","quantity":2,"price":24.95}],)"
           R"("client_ip":"203.0.113.7","user_agent":"Mozilla/5.0","page_url":"https://shop.example.com/thanks")" +
           extra + "}";
}

/// event_id -> times the mock accepted it (in a request it answered 200).
std::map<std::string, int> accepted_ids(const MockGraphServer& mock) {
    std::map<std::string, int> m;
    for (const auto& r : mock.requests())
        if (r.status == 200)
            for (const auto& id : r.event_ids) ++m[id];
    return m;
}

std::uint64_t counter(const std::string& out, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("\\n\\s*" + name + "\\s+(\\d+)"))) return UINT64_MAX;
    return std::stoull(m[1].str());
}

} // namespace

TEST_CASE("webhook_server answers each webhook with the event's outcome at Meta", "[examples][net]") {
    MockGraphServer mock;
    TempDir dir;
    const auto ca = dir.write("ca.pem", mock.ca_pem());
    Child server({program("WEBHOOK_SERVER"), "--pixel", "1234567890", "--port", "0", "--endpoint", mock.url(),
                  "--ca", ca},
                 {"CAPI_ACCESS_TOKEN=mock-token"});
    std::smatch m;
    const std::string banner = server.read_until(
        [](const std::string& s) { return s.find('\n') != std::string::npos; }, 10s);
    REQUIRE(std::regex_search(banner, m, std::regex("listening on http://127\\.0\\.0\\.1:(\\d+)")));
    const auto port = static_cast<unsigned short>(std::stoi(m[1].str()));

    SECTION("delivered: 200 with Meta's fbtrace_id, once the mock acknowledged") {
        // The mock answers after 300 ms: the webhook reply cannot come sooner.
        Fault slow;
        slow.delay = 300ms;
        mock.push_fault(slow);
        const auto r = post(port, "/webhooks/checkout", order_json("1001"));
        CHECK(r.status == 200);
        CHECK(r.body.find(R"("status":"delivered")") != std::string::npos);
        CHECK(r.body.find(R"("event_id":"order-1001")") != std::string::npos);
        CHECK(std::regex_search(r.body, std::regex(R"re("fbtrace_id":"[^"]+")re")));
        CHECK(r.took >= 300ms);
        CHECK(accepted_ids(mock)["order-1001"] == 1);

        // Keep serving: several webhooks, each its own event.
        for (int i = 0; i < 5; ++i) CHECK(post(port, "/webhooks/checkout", order_json(std::to_string(2000 + i))).status == 200);
        const auto ids = accepted_ids(mock);
        for (int i = 0; i < 5; ++i) CHECK(ids.count("order-" + std::to_string(2000 + i)) == 1);
    }
    SECTION("webhooks waiting for Meta do not hold each other up") {
        // Every request to the mock is answered after 300 ms. Ten webhooks one after
        // the other would take 3 s; waiting coroutines take about one delay.
        constexpr int n = 10;
        for (int i = 0; i < n; ++i) {
            Fault slow;
            slow.delay = 300ms;
            mock.push_fault(slow);
        }
        std::vector<HttpReply> replies(n);
        std::vector<std::thread> posters;
        const auto start = steady::now();
        for (int i = 0; i < n; ++i)
            posters.emplace_back([&, i] { replies[i] = post(port, "/webhooks/checkout", order_json(std::to_string(3000 + i))); });
        for (auto& t : posters) t.join();
        const auto took = steady::now() - start;
        for (const auto& r : replies) CHECK(r.status == 200);
        CHECK(took < 2500ms);
        const auto ids = accepted_ids(mock);
        for (int i = 0; i < n; ++i) CHECK(ids.count("order-" + std::to_string(3000 + i)) == 1);
    }
    SECTION("Meta refuses: 502 with the Graph error code and fbtrace_id") {
        mock.push_fault(Fault::graph_error(400, 190, 463, false, "Error validating access token"));
        const auto r = post(port, "/webhooks/checkout", order_json("1002"));
        CHECK(r.status == 502);
        CHECK(r.body.find(R"("code":190)") != std::string::npos);
        CHECK(r.body.find(R"("error_subcode":463)") != std::string::npos);
        CHECK(r.body.find(R"("message":"Error validating access token")") != std::string::npos);
        CHECK(accepted_ids(mock).count("order-1002") == 0);
    }
    SECTION("an invalid event: 422 naming the field, nothing sent") {
        const auto r = post(port, "/webhooks/checkout", order_json("1003", R"(,"created_at":1000000000)"));
        CHECK(r.status == 422);
        CHECK(r.body.find(R"("field":"event_time")") != std::string::npos);
        CHECK(mock.requests().empty());
    }
    SECTION("a body that is not the order JSON: 400 naming the field") {
        auto r = post(port, "/webhooks/checkout", R"({"email":"a@b.co"})");
        CHECK(r.status == 400);
        CHECK(r.body.find("order_id: missing") != std::string::npos);
        r = post(port, "/webhooks/checkout", "not json");
        CHECK(r.status == 400);
        CHECK(post(port, "/elsewhere", "{}").status == 404);
        CHECK(mock.requests().empty());
    }

    server.signal(SIGTERM);
    CHECK(server.wait(15s) == 0);
    CHECK(server.read_all(2s).find("delivered ") != std::string::npos);
}

TEST_CASE("worker enqueues from several threads and flushes on SIGTERM", "[examples][net]") {
    MockGraphServer mock;
    TempDir dir;
    const auto ca = dir.write("ca.pem", mock.ca_pem());
    const std::vector<std::string> env{"CAPI_ACCESS_TOKEN=mock-token"};

    SECTION("SIGTERM: every accepted event is delivered before it exits") {
        Child worker({program("WORKER"), "--pixel", "1234567890", "--threads", "4", "--rate", "500", "--endpoint",
                      mock.url(), "--ca", ca},
                     env);
        const auto end = steady::now() + 15s;
        while (mock.events_accepted() < 200 && steady::now() < end) std::this_thread::sleep_for(5ms);
        REQUIRE(mock.events_accepted() >= 200);
        worker.signal(SIGTERM);
        const auto out = worker.read_all(20s);
        CHECK(worker.wait(5s) == 0);
        const auto accepted = counter(out, "accepted");
        const auto delivered = counter(out, "delivered");
        INFO(out);
        CHECK(accepted >= 200);
        CHECK(accepted != UINT64_MAX);
        CHECK(delivered == accepted);
        CHECK(counter(out, "failed") == 0);
        CHECK(mock.events_accepted() == delivered);  // nothing lost, nothing twice
        // Events from all four producer threads.
        std::set<char> producers;
        for (const auto& [id, n] : accepted_ids(mock)) producers.insert(id.at(5));
        CHECK(producers.size() == 4);
    }
    SECTION("--events: stops by itself once they are produced") {
        Child worker({program("WORKER"), "--pixel", "1234567890", "--threads", "3", "--rate", "2000", "--events",
                      "300", "--endpoint", mock.url(), "--ca", ca},
                     env);
        const auto out = worker.read_all(20s);
        CHECK(worker.wait(5s) == 0);
        INFO(out);
        CHECK(counter(out, "accepted") == 300);
        CHECK(counter(out, "delivered") == 300);
        CHECK(mock.events_accepted() == 300);
    }
    SECTION("no token: a clear error, nothing sent") {
        Child worker({program("WORKER"), "--pixel", "1234567890", "--endpoint", mock.url(), "--ca", ca}, {});
        CHECK(worker.wait(10s) == 2);
        CHECK(mock.requests().empty());
    }
}

TEST_CASE("multi_pixel_router sends per-event destinations through one client", "[examples][net]") {
    MockGraphServer mock;  // accepts the token "mock-token" only
    TempDir dir;
    const auto ca = dir.write("ca.pem", mock.ca_pem());
    const auto routes = dir.write("routes.txt",
                                  "# shop pixel token-variable\n"
                                  "shoes 111111 CAPI_TOKEN_SHOES\n"
                                  "hats 222222\n"
                                  "gloves 333333 CAPI_TOKEN_GLOVES\n");
    const auto orders = dir.write("orders.txt",
                                  "shoes s1 ana@example.com 10.5 USD\n"
                                  "hats h1 bo@example.com 20 EUR\n"
                                  "shoes s2 cy@example.com 30 USD\n"
                                  "gloves g1 di@example.com 40 USD\n"
                                  "hats h2 ed@example.com 50 EUR\n"
                                  "gloves g2 fa@example.com 60 USD\n");
    Child router({program("MULTI_PIXEL_ROUTER"), "--routes", routes, "--test-event-code", "TEST123", "--endpoint",
                  mock.url(), "--ca", ca},
                 {"CAPI_ACCESS_TOKEN=mock-token", "CAPI_TOKEN_SHOES=mock-token", "CAPI_TOKEN_GLOVES=revoked-token"},
                 orders);
    const auto out = router.read_all(20s);
    CHECK(router.wait(5s) == 1);  // gloves failed
    INFO(out);
    CHECK(out.find("shoes pixel 111111: sent 2, delivered 2, failed 0") != std::string::npos);
    CHECK(out.find("hats pixel 222222: sent 2, delivered 2, failed 0") != std::string::npos);
    CHECK(out.find("gloves pixel 333333: sent 2, delivered 0, failed 2") != std::string::npos);
    CHECK(out.find("Graph code 190") != std::string::npos);

    // Each request went to its shop's pixel with its shop's events only.
    const std::map<std::string, std::string> pixel_of{{"order-s1", "111111"}, {"order-s2", "111111"},
                                                      {"order-h1", "222222"}, {"order-h2", "222222"},
                                                      {"order-g1", "333333"}, {"order-g2", "333333"}};
    std::set<std::string> seen;
    for (const auto& r : mock.requests()) {
        INFO(r.target);
        for (const auto& id : r.event_ids) {
            REQUIRE(pixel_of.count(id) == 1);
            CHECK(r.target.find("/" + pixel_of.at(id) + "/events") != std::string::npos);
            seen.insert(id);
        }
        CHECK(r.access_token_ok == (r.target.find("/333333/") == std::string::npos));
    }
    CHECK(seen.size() == 6);
}

TEST_CASE("multi_pixel_router skips a bad order line and still reports the orders it sent", "[examples][net]") {
    MockGraphServer mock;
    TempDir dir;
    const auto ca = dir.write("ca.pem", mock.ca_pem());
    const auto routes = dir.write("routes.txt", "shoes 111111\n");
    const auto orders = dir.write("orders.txt",
                                  "shoes s1 ana@example.com 10.5 USD\n"
                                  "socks k1 bo@example.com 20 EUR\n"     // no route
                                  "shoes s2 cy@example.com\n"            // malformed
                                  "shoes s3 di@example.com 30 USD\n");
    Child router({program("MULTI_PIXEL_ROUTER"), "--routes", routes, "--endpoint", mock.url(), "--ca", ca},
                 {"CAPI_ACCESS_TOKEN=mock-token"}, orders);
    const auto out = router.read_all(20s);
    CHECK(router.wait(5s) == 2);  // bad input, but everything else was sent and reported
    INFO(out);
    CHECK(out.find("shoes pixel 111111: sent 2, delivered 2, failed 0") != std::string::npos);
    CHECK(out.find("skipped 2 order line(s)") != std::string::npos);
    CHECK(mock.events_accepted() == 2);
}

TEST_CASE("first_event and hello_mock: the getting-started programs", "[examples][net]") {
    SECTION("first_event against the mock, with a test_event_code") {
        MockGraphServer mock;
        TempDir dir;
        const auto ca = dir.write("ca.pem", mock.ca_pem());
        Child first({program("FIRST_EVENT"), "--pixel", "1234567890", "--test-event-code", "TEST12345", "--endpoint",
                     mock.url(), "--ca", ca},
                    {"CAPI_ACCESS_TOKEN=mock-token"});
        const auto out = first.read_all(20s);
        CHECK(first.wait(5s) == 0);
        INFO(out);
        CHECK(std::regex_search(out, std::regex("^delivered: event_id first-\\d+, fbtrace_id \\S+")));
        CHECK(mock.events_accepted() == 1);
    }
    SECTION("first_event with a token the mock refuses prints the Graph error") {
        MockGraphServer mock;
        TempDir dir;
        const auto ca = dir.write("ca.pem", mock.ca_pem());
        Child first({program("FIRST_EVENT"), "--pixel", "1234567890", "--endpoint", mock.url(), "--ca", ca},
                    {"CAPI_ACCESS_TOKEN=not-the-token"});
        const auto out = first.read_all(20s);
        CHECK(first.wait(5s) == 1);
        INFO(out);
        CHECK(out.find("failed: event_id first-") != std::string::npos);
        CHECK(out.find("Graph error 190/") != std::string::npos);
        CHECK(mock.events_accepted() == 0);
    }
    SECTION("first_event with nothing listening prints why the last attempt failed") {
        TempDir dir;
        std::string url, ca;
        {
            MockGraphServer gone;  // its port is free again once it is destroyed
            url = gone.url();
            ca = dir.write("ca.pem", gone.ca_pem());
        }
        Child first({program("FIRST_EVENT"), "--pixel", "1234567890", "--endpoint", url, "--ca", ca},
                    {"CAPI_ACCESS_TOKEN=mock-token"});
        const auto out = first.read_all(30s);  // 6 attempts, at most about 6 s of backoff
        CHECK(first.wait(5s) == 1);
        INFO(out);
        CHECK(out.find("failed: event_id first-") != std::string::npos);
        CHECK(out.find("retries exhausted") != std::string::npos);
        CHECK(out.find("last attempt: ") != std::string::npos);
    }
    SECTION("hello_mock") {
        Child hello({program("HELLO_MOCK")}, {});
        const auto out = hello.read_all(20s);
        CHECK(hello.wait(5s) == 0);
        INFO(out);
        CHECK(out.find("delivered, fbtrace_id ") == 0);
        CHECK(out.find("the mock received 1 event(s) in 1 request(s)") != std::string::npos);
    }
}

TEST_CASE("pixel_server: the thank-you page's eventID is the server event's event_id", "[examples][net]") {
    MockGraphServer mock;
    TempDir dir;
    const auto ca = dir.write("ca.pem", mock.ca_pem());
    Child server({program("PIXEL_SERVER"), "--pixel", "1234567890", "--port", "0", "--endpoint", mock.url(), "--ca",
                  ca},
                 {"CAPI_ACCESS_TOKEN=mock-token"});
    std::smatch m;
    const std::string banner = server.read_until(
        [](const std::string& s) { return s.find('\n') != std::string::npos; }, 10s);
    REQUIRE(std::regex_search(banner, m, std::regex("listening on http://127\\.0\\.0\\.1:(\\d+)")));
    const auto port = static_cast<unsigned short>(std::stoi(m[1].str()));
    const std::string browser = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36\r\n";
    const auto wait_for = [&](const std::string& id) {
        const auto end = steady::now() + 15s;
        while (accepted_ids(mock).count(id) == 0 && steady::now() < end) std::this_thread::sleep_for(10ms);
        return accepted_ids(mock).count(id) == 1;
    };

    // The page: Meta's pixel with the Purchase's eventID, and the same event sent
    // from the server.
    const auto page = get(port, "/thanks?order=1001&value=49.90&currency=USD", browser);
    INFO(page.head << "\n\n" << page.body);
    REQUIRE(page.status == 200);
    CHECK(page.head.find("text/html") != std::string::npos);
    CHECK(std::regex_search(page.head, std::regex(R"(Set-Cookie: _fbp=fb\.1\.\d{13}\.\d+;)", std::regex::icase)));
    REQUIRE(std::regex_search(page.body, m, std::regex(R"(fbq\('track', *'Purchase'.*eventID: *['"]([^'"]+)['"])")));
    const std::string page_event_id = m[1].str();
    CHECK(page_event_id == "order-1001");
    CHECK(page.body.find("<noscript><img") != std::string::npos);
    CHECK(wait_for(page_event_id));  // the server event: the same id, so Meta keeps one

    // A hit from another page, through capi::pixel::Endpoint.
    const auto hit = get(port, "/tr?id=1234567890&ev=ViewContent&eid=vc-1&cd[content_ids]=1234&cd[value]=0.50"
                               "&cd[currency]=USD&noscript=1",
                         browser + "Referer: https://shop.example.com/product/1234\r\n"
                                   "Cookie: _fbp=fb.1.1596403881668.1116446470\r\n");
    CHECK(hit.status == 200);
    CHECK(hit.head.find("image/gif") != std::string::npos);
    CHECK(wait_for("vc-1"));

    // Refused and sent nowhere: another pixel, a thank-you page without its order.
    CHECK(get(port, "/tr?id=999&ev=PageView&eid=foreign-1", browser).status == 403);
    CHECK(get(port, "/thanks?order=1002", browser).status == 400);
    CHECK(get(port, "/elsewhere", browser).status == 404);

    server.signal(SIGTERM);
    CHECK(server.wait(15s) == 0);
    CHECK(server.read_all(2s).find("delivered 2, failed 0, rejected 0") != std::string::npos);
    CHECK(accepted_ids(mock).count("foreign-1") == 0);
    CHECK(mock.events_accepted() == 2);
}
