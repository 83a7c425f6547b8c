//! One instance's store: the sandbox of its step (grants, limits, the fixed clock and
//! random), the meter of its computing time and the deadline of its timeout, and the one
//! way a failed call into it becomes an error that names what stopped it.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtxBuilder;

use crate::host::StepState;
use crate::{budget, network, GrantedPaths, Runtime, RuntimeError, StepRequest};

/// A fixed wall clock: components see the build's clock, not the host's.
struct FixedClock(Duration);

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

impl Runtime {
    /// The store of one instance for `req`: its sandbox (grants, limits, the fixed
    /// clock and random), the computing-time meter and the `deadline` of its timeout.
    /// `disk` bounds what a post-processor may write.
    pub(crate) fn store(
        &self,
        component: &str,
        req: &StepRequest,
        deadline: Option<Instant>,
        stderr: &MemoryOutputPipe,
        disk: u64,
    ) -> Store<StepState> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        // The deterministic environment, unless the template opts out in its grant.
        if !req.grant.clock_host {
            wasi.wall_clock(FixedClock(Duration::from_secs(req.clock_epoch)));
        }
        if !req.grant.random_host {
            use rand::SeedableRng;
            let seed = req.clock_epoch ^ 0x6b69_6c6e; // "kiln"
            wasi.insecure_random_seed(u128::from(req.clock_epoch));
            wasi.insecure_random(rand::rngs::StdRng::seed_from_u64(seed));
            wasi.secure_random(rand::rngs::StdRng::seed_from_u64(seed.rotate_left(32)));
        }
        // Only the environment variables granted by name, with the host's values.
        let mut env = Vec::new();
        let mut unset = Vec::new();
        for name in &req.grant.env {
            match std::env::var(name) {
                Ok(value) => env.push((name.clone(), value)),
                Err(_) => unset.push(name.clone()),
            }
        }
        let told = network::Told::new(component, req.ui.clone(), &req.grant.env, unset);
        let network = network::apply(&req.grant.network, &mut wasi, &told);
        let mut table = ResourceTable::new();
        // Every host resource a component holds (a process, a socket, a pollable, a
        // stream) is an entry here.
        table.set_max_capacity(MAX_HANDLES);
        let state = StepState {
            wasi: wasi.build(),
            table,
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(usize::try_from(req.limits.memory()).unwrap_or(usize::MAX))
                .instances(16)
                .tables(64)
                .memories(16)
                .table_elements(1 << 20)
                .trap_on_grow_failure(true)
                .build(),
            step_limits: req.limits,
            ui_printed: 0,
            in_flight: 0,
            communicator: req.communicator.clone(),
            ui: req.ui.clone(),
            paths: GrantedPaths::new(&req.grant, &req.cwd),
            archive_epoch: req.archive_epoch,
            written: req.digests.clone(),
            made: Default::default(),
            network,
            meter: budget::CpuMeter::new(req.limits.cpu()),
            disk: budget::DiskBudget {
                limit: disk,
                written: 0,
            },
            env,
            told,
            exec_host: req.grant.exec_host,
            exec_host_implied: false,
            temp: None,
            temp_count: 0,
            exec_announced: false,
            locks: Default::default(),
            images: crate::images::ImageWork {
                network: req.grant.network.clone(),
                ..Default::default()
            },
            ssh_adapter: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let metered = self.metered;
        if metered {
            store.call_hook(|mut cx, hook| {
                cx.data_mut().meter.hook(hook);
                Ok(())
            });
        }
        store.set_epoch_deadline(1);
        watch_deadline(&mut store, deadline, metered);
        store
    }

    /// What a failed call into `component` says: the timeout when it expired, else the
    /// trap with what the guest printed, a limit named with how to raise it. Every
    /// export's failures go through here.
    pub(crate) fn trap_error(
        component: &str,
        e: &wasmtime::Error,
        stderr: &MemoryOutputPipe,
        req: &StepRequest,
        deadline: Option<Instant>,
    ) -> RuntimeError {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return RuntimeError::Timeout {
                component: component.to_owned(),
                timeout: req.timeout.unwrap_or_default(),
            };
        }
        let mut message = trap_message(e, stderr);
        if let Some(limit) = budget::memory_exhausted(&message, req.limits.memory())
            .or_else(|| budget::handles_exhausted(&message, MAX_HANDLES))
        {
            message = format!("{limit} ({message})");
        }
        RuntimeError::Trap {
            component: component.to_owned(),
            message,
        }
    }
}

/// The most host resources (processes, sockets, pollables, streams) one instance holds
/// at once; far more than any step needs, far fewer than Kiln's file descriptors.
const MAX_HANDLES: usize = 65_536;

/// Runs `work` until it ends, the build is cancelled or `deadline` passes; `None` when
/// it was stopped.
pub(crate) async fn bounded<T>(
    work: impl std::future::Future<Output = T>,
    cancel: &CancellationToken,
    deadline: Option<Instant>,
) -> Option<T> {
    if cancel.is_cancelled() {
        return None;
    }
    // Most calls end in their first poll (a check, a guest that does not wait): those
    // need neither a place among the token's waiters nor a timer.
    let mut work = std::pin::pin!(work);
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match work.as_mut().poll(cx) {
            std::task::Poll::Ready(r) => Some(r),
            std::task::Poll::Pending => None,
        })
    })
    .await;
    if first.is_some() {
        return first;
    }
    let timeout = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = work => Some(r),
        _ = cancel.cancelled() => None,
        _ = timeout => None,
    }
}

/// Why [`bounded`] stopped a call: the build was cancelled, or the timeout passed.
pub(crate) fn stopped(
    component: &str,
    req: &StepRequest,
    deadline: Option<Instant>,
) -> RuntimeError {
    if req.cancel.is_cancelled() && deadline.is_none_or(|d| Instant::now() < d) {
        RuntimeError::Cancelled
    } else {
        RuntimeError::Timeout {
            component: component.to_owned(),
            timeout: req.timeout.unwrap_or_default(),
        }
    }
}

/// How much of a component's stderr is kept to explain a crash.
pub(crate) const STDERR_CAPTURE: usize = 64 << 10;

/// The trap, with what the guest printed before it (a Rust panic message, say).
pub(crate) fn trap_message(e: &wasmtime::Error, stderr: &MemoryOutputPipe) -> String {
    let contents = stderr.contents();
    let printed =
        kiln_core::text::escape_controls(String::from_utf8_lossy(&contents).trim()).into_owned();
    let trap = format!("{e:#}");
    if printed.is_empty() {
        trap
    } else {
        format!("{printed} ({trap})")
    }
}

/// Makes every epoch tick check the call's `deadline` and, when `metered`, its computing
/// time: either ends the call with a trap naming it; otherwise the guest yields.
pub(crate) fn watch_deadline(
    store: &mut Store<StepState>,
    deadline: Option<Instant>,
    metered: bool,
) {
    store.epoch_deadline_callback(move |cx| {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(wasmtime::Error::msg("the step's timeout expired"));
        }
        let meter = &cx.data().meter;
        if metered && meter.exhausted() {
            return Err(budget::cpu_exhausted(meter.budget));
        }
        Ok(UpdateDeadline::Yield(1))
    });
}
