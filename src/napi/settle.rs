//! Settles the promises of calls that ran on the tokio runtime, many per wake-up of the JS
//! thread.
//!
//! Each JS thread (the main thread, every worker thread) has one napi threadsafe function:
//! finished calls queue their settlements, the first one queued wakes the thread, and that wake-up
//! settles everything queued by then. The function is referenced only while calls are pending,
//! so an idle addon never keeps the process alive. Node runs the wake-up inside a callback
//! scope of the function's async resource, so promise reactions run right after it.
//!
//! napi-rs's own future-to-promise bridge makes a threadsafe function per call; a raw libuv
//! async handle (this addon before) saved a few microseconds per sequential call but needed
//! libuv's symbols from the host. BENCHMARKS.md ("How results cross back to JS") has the
//! measurement behind the choice.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::{JsValue, PromiseRaw, ToNapiValue, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{check_status, sys, Env, Error, Result, Status};

/// How a call's promise ends, as a value made on its JS thread.
pub enum Settlement<'env> {
    Resolve(Unknown<'env>),
    /// Rejects with this exact value (an abort signal's reason stays that object).
    Reject(Unknown<'env>),
}

/// Makes a call's settlement on its JS thread, from what the call found on the runtime. An `Err`
/// rejects with that error, or with the JS exception it left pending.
pub type MakeSettlement = Box<dyn for<'env> FnOnce(&'env Env) -> Result<Settlement<'env>> + Send>;

/// A promise's resolver. Made on its JS thread, carried through the queue by tokio threads,
/// used again only by `settle`, whose `&Env` is the one of the thread draining that queue.
struct Deferred(sys::napi_deferred);

// SAFETY: a `napi_deferred` is an opaque handle that napi only dereferences inside
// `napi_resolve_deferred`/`napi_reject_deferred`. Other threads only move it: it is created in
// `promise` and consumed in `Deferred::settle`, both on the JS thread that owns the queue it
// travels in (a queue is drained only by its own thread's threadsafe function).
unsafe impl Send for Deferred {}

impl Deferred {
    fn settle(self, env: &Env, settlement: Result<Settlement>) {
        // A settlement made while JS code threw (a getter of the caller's signal, say) is not
        // trusted: the exception is the rejection, and no exception is left pending.
        let settlement = match (take_exception(env), settlement) {
            (Some(exception), _) => Settlement::Reject(exception),
            (None, Ok(settlement)) => settlement,
            (None, Err(error)) => Settlement::Reject(error_value(env, error)),
        };
        // SAFETY: `self.0` came from `napi_create_promise` on this thread's `env` and is
        // settled once: `settle` consumes the only owner of it. The value was made on `env` in
        // the handle scope the caller keeps open.
        unsafe {
            match settlement {
                Settlement::Resolve(value) => {
                    sys::napi_resolve_deferred(env.raw(), self.0, value.raw())
                }
                Settlement::Reject(reason) => {
                    sys::napi_reject_deferred(env.raw(), self.0, reason.raw())
                }
            }
        };
    }
}

/// The JS exception a failed napi call left pending, taken so the thread can go on using napi.
pub fn take_exception<'env>(env: &'env Env) -> Option<Unknown<'env>> {
    let mut pending = false;
    let mut exception = ptr::null_mut();
    // SAFETY: `env` is the live environment of the thread this runs on (an `&Env` is only
    // handed out inside a napi callback); both out-pointers are valid locals.
    let taken = unsafe {
        sys::napi_is_exception_pending(env.raw(), &mut pending) == sys::Status::napi_ok
            && pending
            && sys::napi_get_and_clear_last_exception(env.raw(), &mut exception)
                == sys::Status::napi_ok
    };
    if !taken || exception.is_null() {
        return None;
    }
    // SAFETY: napi just returned `exception`, a value of this `env`, valid in the caller's
    // handle scope; every caller uses it before the napi callback it runs in returns.
    Some(unsafe { Unknown::from_raw_unchecked(env.raw(), exception) })
}

/// A JS `Error` for `error` (a `TypeError` for a wrong argument, as JS callers expect);
/// `undefined` in the (never seen) case that napi cannot make one, because a promise must
/// settle with something.
pub fn error_value(env: &Env, error: Error) -> Unknown<'_> {
    if error.status == Status::InvalidArg {
        return napi::JsTypeError::from(error).into_unknown(*env);
    }
    match env.create_error(error) {
        Ok(object) => object.to_unknown(),
        Err(_) => ().into_unknown(env).expect("undefined exists on every environment"),
    }
}

#[derive(Default)]
struct Queue {
    settlements: Vec<(Deferred, MakeSettlement)>,
    wake_scheduled: bool,
    /// Set when the environment is torn down: later settlements have nowhere to go.
    closed: bool,
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a JS thread's pending promises share with the tokio threads that settle them.
struct JsThreadInbox {
    queue: Arc<Mutex<Queue>>,
    /// Weak (unreferenced) as made; `JsThreadSettler` references it while calls are pending.
    wake: ThreadsafeFunction<(), (), (), Status, false, true>,
}

/// The JS-thread side: one per Node environment, in that thread's thread-local. Not `Send`:
/// referencing the threadsafe function and counting pending calls are its thread's business.
struct JsThreadSettler {
    bridge: Arc<JsThreadInbox>,
    pending: usize,
    _js_thread_only: PhantomData<*const ()>,
}

impl JsThreadSettler {
    fn create(env: &Env) -> Result<Self> {
        let queue = Arc::new(Mutex::new(Queue::default()));
        let drained = queue.clone();
        // The function napi calls after each wake-up; the work is done in the callback before
        // it. Made with safe constructors only, so a failure anywhere below drops what was
        // made so far (napi-rs releases a threadsafe function it made) and nothing leaks.
        let after_wake =
            env.create_function_from_closure::<(), (), _>("findToolsSettled", |_| Ok(()))?;
        let wake = after_wake
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(move |context| {
                settle_queued(&context.env, &drained);
                Ok(())
            })?;
        let bridge = Arc::new(JsThreadInbox { queue, wake });
        // Registered after the threadsafe function, so it runs before Node finalizes it
        // (cleanup hooks run in reverse order); registered last, because Node aborts when a
        // hook is added twice and a failed setup is tried again on the next call.
        env.add_env_cleanup_hook((), |()| close_on_teardown())?;
        Ok(JsThreadSettler {
            bridge,
            pending: 0,
            _js_thread_only: PhantomData,
        })
    }

    /// Whether the wake-up keeps the event loop (and the process) alive.
    fn set_referenced(&self, env: &Env, referenced: bool) {
        let raw = self.bridge.wake.raw();
        // SAFETY: `JsThreadSettler` lives in the thread-local of the JS thread that made the function,
        // and `env` is that thread's (only that thread reaches this `JsThreadSettler`). The function is
        // not finalized yet: teardown takes `JsThreadSettler` out first (`close_on_teardown` runs before
        // Node finalizes the function), so a `JsThreadSettler` only ever holds a live one.
        unsafe {
            if referenced {
                sys::napi_ref_threadsafe_function(env.raw(), raw)
            } else {
                sys::napi_unref_threadsafe_function(env.raw(), raw)
            }
        };
    }
}

thread_local! {
    static LOCAL: RefCell<Option<JsThreadSettler>> = const { RefCell::new(None) };
}

/// The runtime side of one unsettled promise. Dropping it unsettled rejects the promise, so a
/// task that dies never leaves a caller waiting (or the process held open) forever.
pub struct PendingPromise {
    bridge: Arc<JsThreadInbox>,
    deferred: Option<Deferred>,
}

impl PendingPromise {
    /// Queues the settlement for the promise's JS thread, from any thread.
    pub fn settle(mut self, make: MakeSettlement) {
        if let Some(deferred) = self.deferred.take() {
            enqueue(&self.bridge, deferred, make);
        }
    }
}

impl Drop for PendingPromise {
    fn drop(&mut self) {
        if let Some(deferred) = self.deferred.take() {
            let cancelled: MakeSettlement =
                Box::new(|_| Err(Error::from_reason("the call was cancelled")));
            enqueue(&self.bridge, deferred, cancelled);
        }
    }
}

fn enqueue(bridge: &JsThreadInbox, deferred: Deferred, make: MakeSettlement) {
    let wake = {
        let mut queue = lock(&bridge.queue);
        if queue.closed {
            return;
        }
        queue.settlements.push((deferred, make));
        !std::mem::replace(&mut queue.wake_scheduled, true)
    };
    if wake {
        // Non-blocking on an unbounded queue: it fails only while the environment closes, and
        // then nobody is left to settle for.
        bridge
            .wake
            .call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
}

/// A new promise on this thread's environment, and its pending side for the runtime.
pub fn promise<'env, T>(env: &'env Env) -> Result<(PromiseRaw<'env, T>, PendingPromise)> {
    LOCAL.with(|cell| {
        let mut local = cell.borrow_mut();
        if local.is_none() {
            *local = Some(JsThreadSettler::create(env)?);
        }
        let local = local.as_mut().expect("created above");
        let (promise, deferred) = create_promise(env)?;
        if local.pending == 0 {
            local.set_referenced(env, true);
        }
        local.pending += 1;
        Ok((
            PromiseRaw::new(env.raw(), promise),
            PendingPromise {
                bridge: local.bridge.clone(),
                deferred: Some(deferred),
            },
        ))
    })
}

fn create_promise(env: &Env) -> Result<(sys::napi_value, Deferred)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: `env` is the live environment of this napi callback; both out-pointers are
    // valid locals.
    check_status!(unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
    Ok((promise, Deferred(deferred)))
}

/// The wake-up, on the JS thread inside Node's callback scope: settles everything queued.
fn settle_queued(env: &Env, queue: &Mutex<Queue>) {
    let settlements = {
        let mut queue = lock(queue);
        queue.wake_scheduled = false;
        std::mem::take(&mut queue.settlements)
    };
    if settlements.is_empty() {
        return;
    }
    // Released before any settlement is made: making one runs JS, which may start new calls.
    LOCAL.with(|cell| {
        if let Some(local) = cell.borrow_mut().as_mut() {
            local.pending = local.pending.saturating_sub(settlements.len());
            if local.pending == 0 {
                local.set_referenced(env, false);
            }
        }
    });
    for (deferred, make) in settlements {
        let settlement = make(env);
        deferred.settle(env, settlement);
    }
}

fn close_on_teardown() {
    let Some(local) = LOCAL.with(|cell| cell.borrow_mut().take()) else {
        return;
    };
    // Dropped outside the lock: the settlements hold JS references, released here on their thread.
    let abandoned = {
        let mut queue = lock(&local.bridge.queue);
        queue.closed = true;
        std::mem::take(&mut queue.settlements)
    };
    drop(abandoned);
}

/// A promise already rejected with `reason`, without touching the runtime: misuse fails as
/// promptly as a synchronous throw, but through the promise the caller awaits.
pub fn rejected<'env, T>(env: &'env Env, reason: Unknown<'env>) -> Result<PromiseRaw<'env, T>> {
    let (promise, deferred) = create_promise(env)?;
    deferred.settle(env, Ok(Settlement::Reject(reason)));
    Ok(PromiseRaw::new(env.raw(), promise))
}
