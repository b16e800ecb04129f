//! Settles the promises of calls that ran on the tokio runtime, many per wake-up of Node's
//! thread.
//!
//! napi-rs's own future-to-promise bridge creates a threadsafe function (a libuv async handle
//! and an environment cleanup hook) for every call and wakes Node's thread once per result.
//! Here each JS thread has one threadsafe function: finished calls queue their results, the
//! first one queued wakes the thread, and that wake-up settles everything queued by then. The
//! function is referenced only while calls are pending, so an idle addon never keeps the
//! process alive.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::JsError;
use napi::{check_status, sys, Env, Error, Result};

/// How a promise settles, as values built on Node's thread.
pub enum Settlement {
    Resolve(sys::napi_value),
    /// Rejects with this exact value (an abort signal's reason stays that object).
    Reject(sys::napi_value),
}

/// Builds the settlement on Node's thread; an `Err` rejects with that error.
pub type Finish = Box<dyn FnOnce(&Env) -> Result<Settlement> + Send>;

struct Deferred(sys::napi_deferred);
// A napi_deferred is only ever used on the JS thread that made it; the tokio thread just
// carries it back through the queue.
unsafe impl Send for Deferred {}

struct Threadsafe(sys::napi_threadsafe_function);
// napi documents threadsafe functions as callable from any thread.
unsafe impl Send for Threadsafe {}

struct Queue {
    items: Vec<(Deferred, Finish)>,
    wake_scheduled: bool,
    /// `None` once the environment is torn down: later results have nowhere to go.
    threadsafe: Option<Threadsafe>,
}

struct Shared {
    queue: Mutex<Queue>,
}

/// The JS-thread side: one per Node environment (the main thread or a worker thread).
struct Local {
    shared: Arc<Shared>,
    threadsafe: sys::napi_threadsafe_function,
    pending: usize,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// The tokio side of one pending promise. Dropping it unsettled rejects the promise, so a
/// task that dies never leaves a caller waiting (or the process held open) forever.
pub struct Settler {
    shared: Arc<Shared>,
    deferred: Option<Deferred>,
}

impl Settler {
    pub fn settle(mut self, finish: Finish) {
        if let Some(deferred) = self.deferred.take() {
            enqueue(&self.shared, deferred, finish);
        }
    }
}

impl Drop for Settler {
    fn drop(&mut self) {
        if let Some(deferred) = self.deferred.take() {
            let cancelled: Finish = Box::new(|_| Err(Error::from_reason("the call was cancelled")));
            enqueue(&self.shared, deferred, cancelled);
        }
    }
}

fn enqueue(shared: &Shared, deferred: Deferred, finish: Finish) {
    let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    let Some(threadsafe) = queue.threadsafe.as_ref().map(|t| t.0) else {
        return;
    };
    queue.items.push((deferred, finish));
    if !queue.wake_scheduled {
        queue.wake_scheduled = true;
        // Non-blocking on an unbounded queue: this only fails while the environment closes,
        // and then nobody is left to settle for.
        unsafe {
            sys::napi_call_threadsafe_function(
                threadsafe,
                ptr::null_mut(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
    }
}

/// A new promise on this thread's environment, and the settler that completes it from any
/// thread.
pub fn promise(env: &Env) -> Result<(sys::napi_value, Settler)> {
    LOCAL.with(|cell| {
        let mut local = cell.borrow_mut();
        if local.is_none() {
            *local = Some(create_local(env)?);
        }
        let local = local.as_mut().expect("created above");
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
        if local.pending == 0 {
            check_status!(unsafe {
                sys::napi_ref_threadsafe_function(env.raw(), local.threadsafe)
            })?;
        }
        local.pending += 1;
        Ok((
            promise,
            Settler {
                shared: local.shared.clone(),
                deferred: Some(Deferred(deferred)),
            },
        ))
    })
}

fn create_local(env: &Env) -> Result<Local> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: Vec::new(),
            wake_scheduled: false,
            threadsafe: None,
        }),
    });
    let mut name = ptr::null_mut();
    check_status!(unsafe {
        sys::napi_create_string_utf8(env.raw(), c"letta-find-tools".as_ptr(), 16, &mut name)
    })?;
    // The threadsafe function owns one strong reference, released by its finalizer.
    let context = Arc::into_raw(shared.clone()) as *mut c_void;
    let mut threadsafe = ptr::null_mut();
    let created = check_status!(unsafe {
        sys::napi_create_threadsafe_function(
            env.raw(),
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            context,
            Some(finalize_shared),
            context,
            Some(settle_queued),
            &mut threadsafe,
        )
    });
    if let Err(error) = created {
        drop(unsafe { Arc::from_raw(context as *const Shared) });
        return Err(error);
    }
    check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), threadsafe) })?;
    shared
        .queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .threadsafe = Some(Threadsafe(threadsafe));
    // Registered after the threadsafe function, so it runs before Node finalizes it (cleanup
    // hooks run in reverse order) and no tokio thread can call into a freed function.
    check_status!(unsafe {
        sys::napi_add_env_cleanup_hook(env.raw(), Some(close_on_teardown), context)
    })?;
    Ok(Local {
        shared,
        threadsafe,
        pending: 0,
    })
}

unsafe extern "C" fn settle_queued(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() {
        return;
    }
    let shared = unsafe { &*(context as *const Shared) };
    let items = {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.wake_scheduled = false;
        std::mem::take(&mut queue.items)
    };
    let settled = items.len();
    let js_env = Env::from_raw(env);
    for (deferred, finish) in items {
        match finish(&js_env) {
            Ok(Settlement::Resolve(value)) => unsafe {
                sys::napi_resolve_deferred(env, deferred.0, value)
            },
            Ok(Settlement::Reject(reason)) => unsafe {
                sys::napi_reject_deferred(env, deferred.0, reason)
            },
            Err(error) => unsafe {
                let reason = JsError::from(error).into_value(env);
                sys::napi_reject_deferred(env, deferred.0, reason)
            },
        };
    }
    LOCAL.with(|cell| {
        if let Some(local) = cell.borrow_mut().as_mut() {
            local.pending = local.pending.saturating_sub(settled);
            if local.pending == 0 {
                unsafe { sys::napi_unref_threadsafe_function(env, local.threadsafe) };
            }
        }
    });
}

unsafe extern "C" fn close_on_teardown(context: *mut c_void) {
    let shared = unsafe { &*(context as *const Shared) };
    let threadsafe = {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.items.clear();
        queue.threadsafe.take()
    };
    LOCAL.with(|cell| cell.borrow_mut().take());
    if let Some(threadsafe) = threadsafe {
        unsafe {
            sys::napi_release_threadsafe_function(
                threadsafe.0,
                sys::ThreadsafeFunctionReleaseMode::abort,
            )
        };
    }
}

unsafe extern "C" fn finalize_shared(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(unsafe { Arc::from_raw(data as *const Shared) });
}

/// Rejects on Node's thread without touching the runtime: misuse fails as promptly as a
/// synchronous throw, but through the promise the caller awaits.
pub fn rejected(env: &Env, reason: sys::napi_value) -> Result<sys::napi_value> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check_status!(unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
    check_status!(unsafe { sys::napi_reject_deferred(env.raw(), deferred, reason) })?;
    Ok(promise)
}
