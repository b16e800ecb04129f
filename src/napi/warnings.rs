//! Hands the addon's warnings to a JS listener (`onWarning`), from whichever thread warns.
//!
//! `log` owns the deduplication and the stderr fallback; this module only delivers. A warning
//! raised on the listener's own JS thread (a setting read while a client is built, inside that
//! napi call) is delivered there and then: it keeps its place among the host's own lines and is
//! not lost when the process ends right after. One raised on a tokio thread goes through a
//! threadsafe function that does not keep the process alive.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{Function, FunctionRef};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Result, Status};

use super::settle;
use crate::log;

/// The listener, on the JS thread that registered it. `id` tells the current registration
/// from one a later `onWarning` replaced.
struct Registered {
    id: u64,
    env: Env,
    listener: FunctionRef<String, ()>,
}

thread_local! {
    /// Emptied by a cleanup hook before the environment is torn down, so `env` is live
    /// whenever it is here.
    static REGISTERED: RefCell<Option<Registered>> = const { RefCell::new(None) };
    /// Node aborts when one hook is added twice: at most one per thread.
    static HOOKED: Cell<bool> = const { Cell::new(false) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Makes `listener` the process's warning listener, on `env`'s thread.
pub fn register(env: &Env, listener: Function<String, ()>) -> Result<()> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    // The work is done in the callback, on the JS thread; the function it then calls is a no-op.
    let after_delivery =
        env.create_function_from_closure::<(), (), _>("lettaFindToolsWarned", |_| Ok(()))?;
    let wake = after_delivery
        .build_threadsafe_function::<String>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(move |context| {
            if deliver_here(id, &context.value) != Some(true) {
                log::to_stderr(&context.value);
            }
            Ok(())
        })?;
    let registered = Registered {
        id,
        env: *env,
        listener: listener.create_ref()?,
    };
    REGISTERED.with(|cell| {
        cell.try_borrow_mut()
            .map(|mut slot| *slot = Some(registered))
            .map_err(|_| napi::Error::from_reason("onWarning cannot be called from its listener"))
    })?;
    if !HOOKED.get() {
        env.add_env_cleanup_hook((), |()| {
            REGISTERED.with(|cell| cell.borrow_mut().take());
        })?;
        HOOKED.set(true);
    }
    log::set_listener(Some(Arc::new(move |message: &str| {
        deliver_here(id, message).unwrap_or_else(|| {
            wake.call(message.to_owned(), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok
        })
    })));
    Ok(())
}

/// Calls listener `id` when this is its thread: `None` elsewhere, else whether it took the
/// message (a listener that throws did not; its exception is cleared, so the napi call under
/// way goes on).
fn deliver_here(id: u64, message: &str) -> Option<bool> {
    REGISTERED.with(|cell| {
        let slot = cell.try_borrow().ok()?;
        let registered = slot.as_ref().filter(|registered| registered.id == id)?;
        let env = &registered.env;
        let called = registered
            .listener
            .borrow_back(env)
            .and_then(|listener| listener.call(message.to_owned()));
        if called.is_err() {
            settle::take_exception(env);
        }
        Some(called.is_ok())
    })
}
