//! Cancels calls by the caller's `AbortSignal`.
//!
//! A listener made through Node-API per call (a function with its finalizer, two references,
//! `add`/`removeEventListener` called through Node-API) made a call with a signal cost 14–17 µs
//! of CPU more than one without; this way it costs about 10 (BENCHMARKS.md). So each JS thread
//! evaluates `abort-listeners.js` once: its `listen` puts a plain closure on the signal and
//! keeps it in a JS `Map` under the call's id; the closure calls this thread's one native
//! `abortCall(id)`, which wakes that call's `Notify`. A call holds nothing of JS but its id.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::{
    FnArgs, FromNapiValue, Function, FunctionRef, JsObjectValue, Object, Unknown,
};
use napi::{Env, JsValue, Result, ValueType};
use tokio::sync::Notify;

use super::settle;

const LISTENERS_SOURCE: &str = include_str!("abort-listeners.js");

/// This thread's `listen(signal, id)` and `unlisten(id)`, kept for the life of its environment.
struct ListenerFunctions {
    listen: FunctionRef<(), ()>,
    unlisten: FunctionRef<(), ()>,
}

thread_local! {
    static LISTENER_FUNCTIONS: RefCell<Option<ListenerFunctions>> = const { RefCell::new(None) };
    /// The calls listening on this thread, by id: what `abortCall(id)` wakes.
    static LISTENING: RefCell<HashMap<u32, Arc<Notify>>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

/// A call listening to its signal, by id. Released on its JS thread when the call settles; one
/// dropped unreleased (its task gone, its environment torn down) leaves an entry in this
/// thread's tables, which go with the environment.
pub struct AbortListener {
    id: u32,
}

pub enum Listening<'env> {
    AlreadyAborted(Unknown<'env>),
    Armed(Arc<Notify>, AbortListener),
}

/// Starts listening to `signal` (an object with an `addEventListener` method). Only `aborted`
/// being `true` counts as aborted: what a real AbortSignal says, read without coercing anything.
pub fn listen<'env>(env: &'env Env, signal: Object<'env>) -> Result<Listening<'env>> {
    let aborted: Unknown = signal.get_named_property("aborted")?;
    if aborted.get_type()? == ValueType::Boolean && bool::from_unknown(aborted)? {
        return Ok(Listening::AlreadyAborted(
            signal.get_named_property("reason")?,
        ));
    }
    let listen: Function<FnArgs<(Object, u32)>, Unknown> =
        Function::from_unknown(helper_function(env, |helper| &helper.listen)?)?;
    let abort = Arc::new(Notify::new());
    let id = LISTENING.with(|listening| {
        let mut listening = listening.borrow_mut();
        let mut id = NEXT_ID.get();
        // Wraps after 2³² calls; an id still in use (a call that old) is skipped.
        while listening.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        NEXT_ID.set(id.wrapping_add(1));
        listening.insert(id, abort.clone());
        id
    });
    // Registered before listening: a signal that dispatches from inside addEventListener
    // still finds the call. An exception the helper threw stays pending for the caller.
    if let Err(error) = listen.apply((), FnArgs::from((signal, id))) {
        forget(id);
        return Err(error);
    }
    Ok(Listening::Armed(abort, AbortListener { id }))
}

impl AbortListener {
    /// Takes the listener off the signal, returning the signal for a last read. A
    /// `removeEventListener` that throws is ignored there: the call's result stands.
    pub fn release<'env>(self, env: &'env Env) -> Option<Object<'env>> {
        let unlisten: Option<Function<u32, Unknown>> =
            helper_function(env, |helper| &helper.unlisten)
                .and_then(Function::from_unknown)
                .ok();
        let signal = unlisten.and_then(|unlisten| match unlisten.apply((), self.id) {
            Ok(signal) => Some(signal),
            Err(_) => {
                settle::take_exception(env);
                None
            }
        });
        forget(self.id);
        let signal = signal?;
        match signal.get_type().ok()? {
            ValueType::Object => Object::from_unknown(signal).ok(),
            _ => None,
        }
    }
}

fn forget(id: u32) {
    LISTENING.with(|listening| listening.borrow_mut().remove(&id));
}

/// One of this thread's helper functions, the helper evaluated on first use. The thread-local
/// is not borrowed while JS runs: JS may start or abort calls.
fn helper_function<'env>(
    env: &'env Env,
    pick: impl Fn(&ListenerFunctions) -> &FunctionRef<(), ()>,
) -> Result<Unknown<'env>> {
    let ready = LISTENER_FUNCTIONS.with(|helper| helper.borrow().is_some());
    if !ready {
        let made = make_listener_functions(env)?;
        LISTENER_FUNCTIONS.with(|helper| *helper.borrow_mut() = Some(made));
    }
    LISTENER_FUNCTIONS.with(|helper| {
        let helper = helper.borrow();
        let helper = helper.as_ref().expect("made above");
        Ok(pick(helper).borrow_back(env)?.to_unknown())
    })
}

fn make_listener_functions(env: &Env) -> Result<ListenerFunctions> {
    let factory: Function<Function<u32, ()>, Object> = env.run_script(LISTENERS_SOURCE)?;
    let abort_call = env.create_function_from_closure::<u32, (), _>("abortCall", |ctx| {
        let id: u32 = ctx.get(0)?;
        let abort = LISTENING.with(|listening| listening.borrow().get(&id).cloned());
        // notify_one keeps a permit, so an abort that lands before the call is polled counts.
        if let Some(abort) = abort {
            abort.notify_one();
        }
        Ok(())
    })?;
    let helper = factory.call(abort_call)?;
    let function = |name: &str| -> Result<FunctionRef<(), ()>> {
        let function: Function<(), ()> = helper.get_named_property(name)?;
        function.create_ref()
    };
    let made = ListenerFunctions {
        listen: function("listen")?,
        unlisten: function("unlisten")?,
    };
    // The references go before Node finalizes this environment's values.
    env.add_env_cleanup_hook((), |()| {
        LISTENER_FUNCTIONS.with(|helper| helper.borrow_mut().take());
        LISTENING.with(|listening| listening.borrow_mut().clear());
    })?;
    Ok(made)
}
