// The pipeline's stages wired together, and Client::impl (lib-private). What
// each stage owns and the lock order: the comment at the top of client.cpp.
#pragma once

#include "client/batcher.hpp"
#include "client/dispatcher.hpp"
#include "client/flush.hpp"
#include "client/intake.hpp"
#include "client/outcomes.hpp"
#include "client/pipeline.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace capi {
namespace pipeline {

/// The stages reach each other through this (each holds a reference to it).
struct Pipeline : std::enable_shared_from_this<Pipeline> {
    explicit Pipeline(Options o) : opts(std::move(o)) {}
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    void start(std::optional<boost::asio::any_io_executor> user_ex);
    /// Bounded; pending events fail "shutdown". Any thread, once (later calls
    /// return the first one's result).
    bool shutdown(std::chrono::milliseconds timeout);
    bool on_own_io_thread() const;

    Options opts;
    std::unique_ptr<boost::asio::io_context> owned_io;
    boost::asio::any_io_executor ex;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_work;
    std::vector<std::thread> io_threads;

    std::shared_ptr<Transport> transport;
    std::unique_ptr<Sender> sender;

    // The stages (declared after opts, which they read).
    Destinations dests{opts};
    Outcomes outcomes{*this, opts};
    Intake intake{*this, opts};
    Batchers batchers{*this, opts};
    Flush flush{*this};
    Dispatcher dispatcher{*this, opts};

    std::mutex shutdown_mu;
    bool shut = false;        // guarded by shutdown_mu
    bool shut_result = true;  // guarded by shutdown_mu
};

/// After an event went in: wakes a sleeping batcher only when one asked for
/// the next event (it holds nothing, so nothing else would wake it before
/// its idle timeout) or when a bulk's worth is waiting. A batcher that holds
/// a partial batch sleeps until that batch's linger ends and takes what came
/// meanwhile then, so a steady trickle costs no futex call per event.
/// Here, inline: it is on every producer's enqueue and reads three stages.
inline void Batchers::maybe_wake() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
    // Back pressure: the batchers may not pop until a batch leaves (forget()
    // wakes them then), so waking one per event would only cost a futex call.
    if (c_.dispatcher.backed_up()) return;
    if (c_.intake.size_approx() < bulk_size / 2 && !take_wake_request()) return;
    std::lock_guard lock(wake_mu_);
    wake_cv_.notify_one();
}

} // namespace pipeline

/// The client's state: the pipeline (Client::impl is private to Client, the
/// stages name the pipeline).
struct Client::impl : pipeline::Pipeline {
    using Pipeline::Pipeline;
};

} // namespace capi
