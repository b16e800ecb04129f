//! The few libuv functions the addon needs to wake Node's thread, resolved from the host
//! process at run time: Node exports libuv, but linking against it would tie the binary to
//! one host's import library (Windows) the way the dyn-symbols napi loader avoids.

use std::ffi::{c_int, c_void};

use napi::sys::uv_loop_s;
use once_cell::sync::OnceCell;

/// `UV_ASYNC` in libuv's `uv_handle_type` (stable since libuv 1.0).
const UV_ASYNC: c_int = 1;

pub type HandleCallback = unsafe extern "C" fn(handle: *mut c_void);

pub struct Uv {
    handle_size: unsafe extern "C" fn(c_int) -> usize,
    async_init: unsafe extern "C" fn(*mut uv_loop_s, *mut c_void, HandleCallback) -> c_int,
    async_send: unsafe extern "C" fn(*mut c_void) -> c_int,
    close: unsafe extern "C" fn(*mut c_void, HandleCallback),
    ref_handle: unsafe extern "C" fn(*mut c_void),
    unref_handle: unsafe extern "C" fn(*mut c_void),
}

/// libuv of the host process, or why it is not usable.
pub fn uv() -> Result<&'static Uv, String> {
    static UV: OnceCell<Result<Uv, String>> = OnceCell::new();
    UV.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Uv, String> {
    #[cfg(unix)]
    let host: libloading::Library = libloading::os::unix::Library::this().into();
    #[cfg(windows)]
    let host: libloading::Library = libloading::os::windows::Library::this()
        .map_err(|error| format!("the host process could not be inspected: {error}"))?
        .into();
    let uv = unsafe {
        Uv {
            handle_size: symbol(&host, b"uv_handle_size\0")?,
            async_init: symbol(&host, b"uv_async_init\0")?,
            async_send: symbol(&host, b"uv_async_send\0")?,
            close: symbol(&host, b"uv_close\0")?,
            ref_handle: symbol(&host, b"uv_ref\0")?,
            unref_handle: symbol(&host, b"uv_unref\0")?,
        }
    };
    // The host executable is never unloaded; keep the handle so the symbols stay valid.
    std::mem::forget(host);
    Ok(uv)
}

unsafe fn symbol<T: Copy>(host: &libloading::Library, name: &[u8]) -> Result<T, String> {
    unsafe { host.get::<T>(name) }.map(|found| *found).map_err(|_| {
        let name = String::from_utf8_lossy(&name[..name.len() - 1]);
        format!("this JavaScript runtime does not export libuv's {name}; letta-find-tools needs Node.js")
    })
}

/// A `uv_async_t`: wakes its loop's thread from any thread and runs a callback there.
pub struct AsyncHandle {
    /// Resolved once the handle exists, so its operations cannot find libuv missing.
    uv: &'static Uv,
    memory: *mut u64,
    words: usize,
}

// uv_async_send is documented as callable from any thread; everything else is called on the
// loop's thread by the owner.
unsafe impl Send for AsyncHandle {}
unsafe impl Sync for AsyncHandle {}

impl AsyncHandle {
    /// Initialised on `event_loop`'s thread, unreferenced (it does not keep the loop alive).
    pub fn new(event_loop: *mut uv_loop_s, callback: HandleCallback) -> Result<Self, String> {
        let uv = uv()?;
        let words = unsafe { (uv.handle_size)(UV_ASYNC) }.div_ceil(8);
        let memory = Box::into_raw(vec![0u64; words].into_boxed_slice()) as *mut u64;
        let handle = Self { uv, memory, words };
        let status = unsafe { (uv.async_init)(event_loop, handle.raw(), callback) };
        if status != 0 {
            // Never registered with the loop, so it can be freed at once.
            drop(unsafe { handle.into_memory() });
            return Err(format!("libuv could not create an async handle ({status})"));
        }
        unsafe { (uv.unref_handle)(handle.raw()) };
        Ok(handle)
    }

    fn raw(&self) -> *mut c_void {
        self.memory as *mut c_void
    }

    /// Schedules the callback on the loop's thread; wake-ups before it runs coalesce.
    pub fn send(&self) {
        unsafe { (self.uv.async_send)(self.raw()) };
    }

    /// Whether the handle keeps the loop (and the process) alive. Loop thread only.
    pub fn set_referenced(&self, referenced: bool) {
        let toggle = if referenced {
            self.uv.ref_handle
        } else {
            self.uv.unref_handle
        };
        unsafe { toggle(self.raw()) };
    }

    /// Closes the handle on the loop's thread; its memory is freed once libuv is done with it.
    pub fn close(self) {
        let raw = self.raw();
        // libuv hands the handle back to `free_closed`, which needs the length: keep it in
        // the handle's `data` field (the first pointer of every libuv handle).
        unsafe { *(raw as *mut usize) = self.words };
        unsafe { (self.uv.close)(raw, free_closed) };
    }

    unsafe fn into_memory(self) -> Box<[u64]> {
        unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.memory, self.words)) }
    }
}

unsafe extern "C" fn free_closed(handle: *mut c_void) {
    let words = unsafe { *(handle as *const usize) };
    drop(unsafe {
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            handle as *mut u64,
            words,
        ))
    });
}
