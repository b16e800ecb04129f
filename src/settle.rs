//! Settles the promises of calls that ran on the tokio runtime, many per wake-up of Node's
//! thread.
//!
//! Each JS thread has one libuv async handle: finished calls queue their results, the first
//! one queued wakes the thread, and that wake-up settles everything queued by then. The
//! handle is referenced only while calls are pending, so an idle addon never keeps the
//! process alive.
//!
//! Not a napi threadsafe function: Node signals those while holding their queue's lock, so on
//! a busy core the woken JS thread preempts the tokio thread, blocks on that lock and has to be
//! switched out and back in, two extra context switches per call. Here the tokio thread
//! releases every lock before it signals.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex, RwLock};

use napi::bindgen_prelude::JsError;
use napi::{check_status, sys, Env, Error, Result};

use crate::uv::AsyncHandle;

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

struct Queue {
    items: Vec<(Deferred, Finish)>,
    wake_scheduled: bool,
    /// Set when the environment is torn down: later results have nowhere to go.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Taken (and closed) at teardown; tokio threads signal under the read lock, so the handle
    /// cannot be freed while one of them is using it. Node's thread never waits on it to settle.
    wake: RwLock<Option<AsyncHandle>>,
}

impl Shared {
    /// Runs `use_handle` under the read lock, unless the environment is already torn down.
    fn with_wake_handle(&self, use_handle: impl FnOnce(&AsyncHandle)) {
        if let Some(handle) = self.wake.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            use_handle(handle);
        }
    }
}

/// The JS-thread side: one per Node environment (the main thread or a worker thread).
struct Local {
    env: sys::napi_env,
    shared: Arc<Shared>,
    /// The async resource the settling callbacks run in, for async_hooks and microtasks.
    resource: sys::napi_ref,
    async_context: sys::napi_async_context,
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
    let wake = {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.closed {
            return;
        }
        queue.items.push((deferred, finish));
        !std::mem::replace(&mut queue.wake_scheduled, true)
    };
    if wake {
        shared.with_wake_handle(AsyncHandle::send);
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
            set_referenced(&local.shared, true);
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

fn set_referenced(shared: &Shared, referenced: bool) {
    shared.with_wake_handle(|handle| handle.set_referenced(referenced));
}

fn create_local(env: &Env) -> Result<Local> {
    let mut resource_object = ptr::null_mut();
    let mut name = ptr::null_mut();
    let mut resource = ptr::null_mut();
    let mut async_context = ptr::null_mut();
    check_status!(unsafe { sys::napi_create_object(env.raw(), &mut resource_object) })?;
    check_status!(unsafe {
        sys::napi_create_string_utf8(env.raw(), c"letta-find-tools".as_ptr(), 16, &mut name)
    })?;
    check_status!(unsafe {
        sys::napi_create_reference(env.raw(), resource_object, 1, &mut resource)
    })?;
    check_status!(unsafe {
        sys::napi_async_init(env.raw(), resource_object, name, &mut async_context)
    })?;
    let mut event_loop = ptr::null_mut();
    check_status!(unsafe { sys::napi_get_uv_event_loop(env.raw(), &mut event_loop) })?;
    // Late, so a failed setup (tried again on the next call) leaves no handle on the loop; the
    // cleanup hook comes last, because Node aborts when one is registered twice.
    let handle = AsyncHandle::new(event_loop, settle_queued).map_err(Error::from_reason)?;
    check_status!(unsafe {
        sys::napi_add_env_cleanup_hook(env.raw(), Some(close_on_teardown), ptr::null_mut())
    })?;
    Ok(Local {
        env: env.raw(),
        shared: Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: Vec::new(),
                wake_scheduled: false,
                closed: false,
            }),
            wake: RwLock::new(Some(handle)),
        }),
        resource,
        async_context,
        pending: 0,
    })
}

/// The async handle's callback, on Node's thread: settles everything queued so far inside a
/// callback scope, so the promise reactions run right after, as for any native callback.
unsafe extern "C" fn settle_queued(_handle: *mut c_void) {
    // Copied out: the reactions that run when the scope closes may start new calls, which
    // borrow LOCAL again.
    let Some((env, shared, resource, async_context)) = LOCAL.with(|cell| {
        cell.borrow().as_ref().map(|local| {
            (
                local.env,
                local.shared.clone(),
                local.resource,
                local.async_context,
            )
        })
    }) else {
        return;
    };
    let items = {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.wake_scheduled = false;
        std::mem::take(&mut queue.items)
    };
    if items.is_empty() {
        return;
    }
    LOCAL.with(|cell| {
        if let Some(local) = cell.borrow_mut().as_mut() {
            local.pending = local.pending.saturating_sub(items.len());
            if local.pending == 0 {
                set_referenced(&local.shared, false);
            }
        }
    });
    let mut handle_scope = ptr::null_mut();
    let mut callback_scope = ptr::null_mut();
    let mut resource_object = ptr::null_mut();
    unsafe {
        sys::napi_open_handle_scope(env, &mut handle_scope);
        sys::napi_get_reference_value(env, resource, &mut resource_object);
        sys::napi_open_callback_scope(env, resource_object, async_context, &mut callback_scope);
    }
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
    unsafe {
        sys::napi_close_callback_scope(env, callback_scope);
        sys::napi_close_handle_scope(env, handle_scope);
    }
}

unsafe extern "C" fn close_on_teardown(_data: *mut c_void) {
    let Some(local) = LOCAL.with(|cell| cell.borrow_mut().take()) else {
        return;
    };
    {
        let mut queue = local.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.closed = true;
        queue.items.clear();
    }
    let handle = local
        .shared
        .wake
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(handle) = handle {
        handle.close();
    }
    unsafe {
        sys::napi_async_destroy(local.env, local.async_context);
        sys::napi_delete_reference(local.env, local.resource);
    }
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
