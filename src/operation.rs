//! The session's operations computed in the module (digest, verification): no card I/O.
//!
//! A session runs one cryptographic operation at a time: PKCS#11 allows two at once only
//! for the pairs digest+encrypt, decrypt+digest, sign+encrypt and decrypt+verify, and
//! only on tokens with `CKF_DUAL_CRYPTO_OPERATIONS`, which this token does not claim.
//! So digest, verification and signature exclude each other (`CKR_OPERATION_ACTIVE`);
//! an object search stays independent of them, as before (pkcs11-spec.md §2.12).

use crate::digest::DigestOperation;
use crate::verify::VerifyOperation;
use cryptoki_sys::*;
use parking_lot::Mutex;

/// What a call that returns bytes by PKCS#11's output-buffer convention (§5.2) produced:
/// `C_Sign`, `C_SignFinal`, `C_Digest`, `C_DigestFinal`.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Output buffer was NULL: the output's length; the operation goes on.
    Length(usize),
    /// Output buffer too small: the needed length; the operation goes on.
    TooSmall(usize),
    /// The output: the operation is over.
    Bytes(Vec<u8>),
}

impl Output {
    /// The answer for an output of `len` bytes and a buffer of `capacity` (None: NULL)
    /// when it is only a length, or None when the buffer takes the output.
    pub fn length_answer(len: usize, capacity: Option<usize>) -> Option<Output> {
        match capacity {
            None => Some(Output::Length(len)),
            Some(c) if c < len => Some(Output::TooSmall(len)),
            _ => None,
        }
    }
}

/// One module-computed operation.
pub enum Operation {
    Digest(DigestOperation),
    Verify(VerifyOperation),
}

/// The slot for a session's module-computed operation.
#[derive(Default)]
pub struct Operations {
    active: Mutex<Option<Operation>>,
}

impl Operations {
    pub fn is_active(&self) -> bool {
        self.active.lock().is_some()
    }

    /// Install the operation `make` builds, unless one is active. Call only with the
    /// session's signature lock held (lock order: signature, then this).
    pub(crate) fn start(
        &self,
        make: impl FnOnce() -> Result<Operation, CK_RV>,
    ) -> Result<(), CK_RV> {
        let mut active = self.active.lock();
        if active.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        *active = Some(make()?);
        Ok(())
    }

    /// Run `f` on the operation slot (a few instructions or one hash/verification;
    /// never card I/O). `f` ends the operation by taking it.
    pub fn with<T>(&self, f: impl FnOnce(&mut Option<Operation>) -> T) -> T {
        f(&mut self.active.lock())
    }

    /// C_SessionCancel: end a digest and/or a verification if one is active.
    pub fn cancel(&self, digest: bool, verify: bool) {
        let mut active = self.active.lock();
        let ends = match &*active {
            Some(Operation::Digest(_)) => digest,
            Some(Operation::Verify(_)) => verify,
            None => false,
        };
        if ends {
            *active = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_answers_keep_the_operation() {
        assert_eq!(Output::length_answer(32, None), Some(Output::Length(32)));
        assert_eq!(
            Output::length_answer(32, Some(31)),
            Some(Output::TooSmall(32))
        );
        assert_eq!(Output::length_answer(32, Some(32)), None);
    }
}
