//! The C ABI: the only `unsafe` code of the module.
//!
//! Every exported function goes through [`call`] (directly or through [`entry`]):
//! it catches panics (→ `CKR_GENERAL_ERROR`), checks that the library is initialised
//! in this process (→ `CKR_CRYPTOKI_NOT_INITIALIZED`), and traces the call with its
//! arguments and result to the debug log. Pointer arguments are checked and copied by
//! the helpers below before any Rust code sees them.
//!
//! Safety contract of all exported functions: the caller passes pointers that are
//! either NULL or valid for the lengths it states, as PKCS#11 requires (§2.1: a
//! caller lying about a buffer size cannot be defended against). Every `unsafe` block
//! relies on exactly that and says which pointer it dereferences (`// SAFETY:`);
//! `unsafe_op_in_unsafe_fn` is denied, so no unsafe operation hides in a function body.
#![allow(non_snake_case, clippy::missing_safety_doc)]

mod digest;
mod general;
mod object;
mod os;
mod session;
mod sign;
mod slot;
mod tables;
mod unsupported;
mod verify;

use crate::log::Level;
use crate::module::Module;
use cryptoki_sys::*;
use parking_lot::RwLock;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use zeroize::Zeroizing;

#[cfg(feature = "software-card")]
#[doc(hidden)]
pub use general::set_reader_source;
pub use os::effective_uid;
pub use tables::{FUNCTION_LIST, FUNCTION_LIST_2_20, FUNCTION_LIST_3_0};

/// The initialised library of this process. `pid` detects a forked child that did
/// not call C_Initialize itself: it must not use (or tear down) the parent's state.
struct Global {
    module: Arc<Module>,
    pid: u32,
}

static GLOBAL: RwLock<Option<Global>> = RwLock::new(None);

fn current_module() -> Result<Arc<Module>, CK_RV> {
    match &*GLOBAL.read() {
        Some(g) if g.pid == std::process::id() => Ok(g.module.clone()),
        _ => Err(CKR_CRYPTOKI_NOT_INITIALIZED),
    }
}

/// The one wrapper around every export: panic barrier and call tracing.
fn call(
    name: &'static str,
    args: impl FnOnce() -> String,
    body: impl FnOnce() -> Result<(), CK_RV>,
) -> CK_RV {
    // A panic from here on is the module's: the hook reports it to the log only.
    let _module = crate::log::InModule::enter();
    // A thread-local read; taken even with the log off, since C_Initialize turns it on.
    let io_before = crate::card::thread_io();
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let rv = match outcome {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(rv)) => rv,
        Err(_) => {
            crate::log_at!(Level::Error, "{name}: internal panic caught");
            CKR_GENERAL_ERROR
        }
    };
    if crate::log::enabled(Level::Debug) {
        // Card I/O this call caused on this thread (every card operation runs on the
        // calling thread), for the per-call debug line.
        let io = crate::card::thread_io().since(io_before);
        // Formatting the arguments cannot panic in a way that matters, but stay safe.
        let text = catch_unwind(AssertUnwindSafe(args)).unwrap_or_default();
        crate::log::write(
            Level::Debug,
            format_args!(
                "{name}({text}) = {} apdus={} bytes={} tx={}",
                rv_name(rv),
                io.apdus,
                io.bytes,
                io.transactions
            ),
        );
    }
    rv
}

/// [`call`] for functions that need an initialised library.
fn entry(
    name: &'static str,
    args: impl FnOnce() -> String,
    body: impl FnOnce(&Module) -> Result<(), CK_RV>,
) -> CK_RV {
    call(name, args, || {
        let module = current_module()?;
        body(&module)
    })
}

// ---- argument helpers ----

fn to_usize(len: CK_ULONG) -> Result<usize, CK_RV> {
    usize::try_from(len)
        .ok()
        .filter(|l| *l <= isize::MAX as usize)
        .ok_or(CKR_ARGUMENTS_BAD)
}

/// An input array: NULL is accepted only with length 0.
///
/// # Safety
/// `ptr` is NULL or valid for reading `len` elements for `'a`.
unsafe fn in_slice<'a, T>(ptr: *const T, len: CK_ULONG) -> Result<&'a [T], CK_RV> {
    let len = to_usize(len)?;
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not NULL, and valid for `len` elements by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// An array the module fills in place: NULL is accepted only with length 0.
///
/// # Safety
/// `ptr` is NULL or valid for reading and writing `len` elements for `'a`, and
/// nothing else accesses them meanwhile.
unsafe fn in_out_slice<'a, T>(ptr: *mut T, len: CK_ULONG) -> Result<&'a mut [T], CK_RV> {
    let len = to_usize(len)?;
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not NULL, valid and not aliased for `len` elements by the contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// A required output location.
///
/// # Safety
/// `ptr` is NULL or valid for reading and writing one `T` for `'a`.
unsafe fn out_ref<'a, T>(ptr: *mut T) -> Result<&'a mut T, CK_RV> {
    // SAFETY: NULL gives None; otherwise valid by this function's contract.
    unsafe { ptr.as_mut() }.ok_or(CKR_ARGUMENTS_BAD)
}

/// A PIN, copied at once into memory that is wiped after use.
/// No card PIN is this long; refusing early avoids copying absurd lengths.
const MAX_PIN_LEN: CK_ULONG = 256;

///
/// # Safety
/// As [`in_slice`].
unsafe fn pin_arg(ptr: *const CK_UTF8CHAR, len: CK_ULONG) -> Result<Zeroizing<Vec<u8>>, CK_RV> {
    if len > MAX_PIN_LEN {
        return Err(CKR_PIN_LEN_RANGE);
    }
    // SAFETY: this function's contract is in_slice's.
    let pin = unsafe { in_slice(ptr, len) }?;
    Ok(Zeroizing::new(pin.to_vec()))
}

/// Upper bound for buffers the module allocates on the caller's word (random bytes,
/// copied template values): an allocation failure would abort the host process.
pub(crate) const MAX_ALLOCATION: usize = 1 << 20;

/// Output array convention: NULL buffer → length only; too small → length and
/// CKR_BUFFER_TOO_SMALL; else copy. The length is written only after the size check.
///
/// # Safety
/// `out_len` is NULL or valid for one `CK_ULONG`; `out` is NULL or valid for writing
/// `*out_len` elements, and does not overlap `data`.
unsafe fn write_array<T: Copy>(
    out: *mut T,
    out_len: *mut CK_ULONG,
    data: &[T],
) -> Result<(), CK_RV> {
    // SAFETY: `out_len` as this function's contract says.
    let len = unsafe { out_ref(out_len) }?;
    let needed = data.len() as CK_ULONG;
    if out.is_null() {
        *len = needed;
        return Ok(());
    }
    if *len < needed {
        *len = needed;
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    // SAFETY: `out` holds `*len` >= `data.len()` elements and does not overlap `data`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len()) };
    *len = needed;
    Ok(())
}

/// For outputs computed only when there is room (signatures): `None` = NULL buffer.
///
/// # Safety
/// `out_len` is NULL or valid for one `CK_ULONG`.
unsafe fn out_capacity(out: *mut u8, out_len: *mut CK_ULONG) -> Result<Option<usize>, CK_RV> {
    // SAFETY: `out_len` as this function's contract says.
    let len = unsafe { out_ref(out_len) }?;
    if out.is_null() {
        Ok(None)
    } else {
        Ok(Some(usize::try_from(*len).unwrap_or(usize::MAX)))
    }
}

/// Deliver an [`Output`](crate::operation::Output) (a signature or digest) by the
/// output-buffer convention.
///
/// # Safety
/// As [`write_array`] for `out` and `out_len`.
unsafe fn deliver(
    output: crate::operation::Output,
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> Result<(), CK_RV> {
    use crate::operation::Output;
    // SAFETY: out_len is NULL or a CK_ULONG (this function's contract).
    let len = unsafe { out_ref(out_len) }?;
    match output {
        Output::Length(n) => {
            *len = n as CK_ULONG;
            Ok(())
        }
        Output::TooSmall(n) => {
            *len = n as CK_ULONG;
            Err(CKR_BUFFER_TOO_SMALL)
        }
        // SAFETY: as this function's contract says.
        Output::Bytes(bytes) => unsafe { write_array(out, out_len, &bytes) },
    }
}

/// Readable names of the return values in the log.
pub fn rv_name(rv: CK_RV) -> String {
    let name = match rv {
        CKR_OK => "CKR_OK",
        CKR_ARGUMENTS_BAD => "CKR_ARGUMENTS_BAD",
        CKR_ATTRIBUTE_SENSITIVE => "CKR_ATTRIBUTE_SENSITIVE",
        CKR_ATTRIBUTE_TYPE_INVALID => "CKR_ATTRIBUTE_TYPE_INVALID",
        CKR_BUFFER_TOO_SMALL => "CKR_BUFFER_TOO_SMALL",
        CKR_CRYPTOKI_ALREADY_INITIALIZED => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        CKR_CRYPTOKI_NOT_INITIALIZED => "CKR_CRYPTOKI_NOT_INITIALIZED",
        CKR_DATA_LEN_RANGE => "CKR_DATA_LEN_RANGE",
        CKR_DEVICE_ERROR => "CKR_DEVICE_ERROR",
        CKR_DEVICE_REMOVED => "CKR_DEVICE_REMOVED",
        CKR_FUNCTION_NOT_SUPPORTED => "CKR_FUNCTION_NOT_SUPPORTED",
        CKR_GENERAL_ERROR => "CKR_GENERAL_ERROR",
        CKR_KEY_HANDLE_INVALID => "CKR_KEY_HANDLE_INVALID",
        CKR_MECHANISM_INVALID => "CKR_MECHANISM_INVALID",
        CKR_MECHANISM_PARAM_INVALID => "CKR_MECHANISM_PARAM_INVALID",
        CKR_NO_EVENT => "CKR_NO_EVENT",
        CKR_OBJECT_HANDLE_INVALID => "CKR_OBJECT_HANDLE_INVALID",
        CKR_OPERATION_ACTIVE => "CKR_OPERATION_ACTIVE",
        CKR_OPERATION_NOT_INITIALIZED => "CKR_OPERATION_NOT_INITIALIZED",
        CKR_PIN_INCORRECT => "CKR_PIN_INCORRECT",
        CKR_PIN_INVALID => "CKR_PIN_INVALID",
        CKR_PIN_LEN_RANGE => "CKR_PIN_LEN_RANGE",
        CKR_PIN_LOCKED => "CKR_PIN_LOCKED",
        CKR_SESSION_HANDLE_INVALID => "CKR_SESSION_HANDLE_INVALID",
        CKR_SESSION_READ_ONLY => "CKR_SESSION_READ_ONLY",
        CKR_SLOT_ID_INVALID => "CKR_SLOT_ID_INVALID",
        CKR_TOKEN_NOT_PRESENT => "CKR_TOKEN_NOT_PRESENT",
        CKR_TOKEN_NOT_RECOGNIZED => "CKR_TOKEN_NOT_RECOGNIZED",
        CKR_USER_ALREADY_LOGGED_IN => "CKR_USER_ALREADY_LOGGED_IN",
        CKR_USER_NOT_LOGGED_IN => "CKR_USER_NOT_LOGGED_IN",
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN => "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        CKR_ACTION_PROHIBITED => "CKR_ACTION_PROHIBITED",
        CKR_ATTRIBUTE_READ_ONLY => "CKR_ATTRIBUTE_READ_ONLY",
        CKR_ATTRIBUTE_VALUE_INVALID => "CKR_ATTRIBUTE_VALUE_INVALID",
        CKR_CANT_LOCK => "CKR_CANT_LOCK",
        CKR_DATA_INVALID => "CKR_DATA_INVALID",
        CKR_DEVICE_MEMORY => "CKR_DEVICE_MEMORY",
        CKR_FUNCTION_FAILED => "CKR_FUNCTION_FAILED",
        CKR_FUNCTION_NOT_PARALLEL => "CKR_FUNCTION_NOT_PARALLEL",
        CKR_HOST_MEMORY => "CKR_HOST_MEMORY",
        CKR_KEY_FUNCTION_NOT_PERMITTED => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        CKR_KEY_TYPE_INCONSISTENT => "CKR_KEY_TYPE_INCONSISTENT",
        CKR_MUTEX_BAD => "CKR_MUTEX_BAD",
        CKR_NEED_TO_CREATE_THREADS => "CKR_NEED_TO_CREATE_THREADS",
        CKR_RANDOM_SEED_NOT_SUPPORTED => "CKR_RANDOM_SEED_NOT_SUPPORTED",
        CKR_SESSION_CLOSED => "CKR_SESSION_CLOSED",
        CKR_SESSION_COUNT => "CKR_SESSION_COUNT",
        CKR_SESSION_EXISTS => "CKR_SESSION_EXISTS",
        CKR_SESSION_PARALLEL_NOT_SUPPORTED => "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        CKR_SESSION_READ_ONLY_EXISTS => "CKR_SESSION_READ_ONLY_EXISTS",
        CKR_SESSION_READ_WRITE_SO_EXISTS => "CKR_SESSION_READ_WRITE_SO_EXISTS",
        CKR_SIGNATURE_INVALID => "CKR_SIGNATURE_INVALID",
        CKR_SIGNATURE_LEN_RANGE => "CKR_SIGNATURE_LEN_RANGE",
        CKR_KEY_INDIGESTIBLE => "CKR_KEY_INDIGESTIBLE",
        CKR_KEY_SIZE_RANGE => "CKR_KEY_SIZE_RANGE",
        CKR_TEMPLATE_INCOMPLETE => "CKR_TEMPLATE_INCOMPLETE",
        CKR_TEMPLATE_INCONSISTENT => "CKR_TEMPLATE_INCONSISTENT",
        CKR_TOKEN_WRITE_PROTECTED => "CKR_TOKEN_WRITE_PROTECTED",
        CKR_USER_PIN_NOT_INITIALIZED => "CKR_USER_PIN_NOT_INITIALIZED",
        CKR_USER_TYPE_INVALID => "CKR_USER_TYPE_INVALID",
        _ => return format!("CKR_{rv:#x}"),
    };
    name.to_string()
}
