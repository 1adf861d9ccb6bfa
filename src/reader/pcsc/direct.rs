//! A PC/SC connection on the calling thread, for applications that pass
//! `CKF_LIBRARY_CANT_CREATE_OS_THREADS` (NSS does, always): the transaction is
//! scoped, so the `pcsc::Transaction` lives on the caller's stack for exactly the
//! operation. The price (pkcs11-spec.md §3.6): waiting for another application's
//! transaction is pcsc-lite's own wait, which has no bound, and each operation waits
//! for `SCardEndTransaction`.

use super::{close, current_atr, map_error};
use crate::reader::{CardChannel, Link, ReaderError};
use ::pcsc::{Disposition, Protocols, ShareMode};
use std::ffi::CStr;
use zeroize::Zeroizing;

pub struct DirectChannel {
    /// `None` only while being dropped.
    card: Option<::pcsc::Card>,
    protocols: Protocols,
    atr: Vec<u8>,
    buf: Zeroizing<Vec<u8>>,
}

impl DirectChannel {
    pub fn open(reader: &CStr) -> Result<Self, ReaderError> {
        let (card, protocols) = super::connect(reader)?;
        let atr = current_atr(&card);
        Ok(DirectChannel {
            card: Some(card),
            protocols,
            atr,
            buf: super::answer_buffer(),
        })
    }
}

impl Drop for DirectChannel {
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            close(card);
        }
    }
}

/// The link of one transaction.
struct DirectLink<'a, 'tx> {
    tx: &'a mut ::pcsc::Transaction<'tx>,
    protocols: Protocols,
    buf: &'a mut [u8],
    atr: &'a mut Vec<u8>,
}

impl Link for DirectLink<'_, '_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        self.tx
            .transmit(apdu, self.buf)
            .map(<[u8]>::to_vec)
            .map_err(map_error)
    }

    fn reset(&mut self) -> Result<(), ReaderError> {
        self.tx
            .reconnect(ShareMode::Shared, self.protocols, Disposition::ResetCard)
            .map_err(map_error)?;
        *self.atr = current_atr(self.tx);
        Ok(())
    }

    fn atr(&self) -> &[u8] {
        self.atr
    }
}

impl CardChannel for DirectChannel {
    fn transaction(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Link, bool),
    ) -> Result<(), ReaderError> {
        let DirectChannel {
            card,
            protocols,
            atr,
            buf,
        } = self;
        let mut card = card
            .as_mut()
            .ok_or_else(|| ReaderError::Io("connection closed".into()))?;
        let mut reset_seen = false;
        let mut tx = loop {
            match card.transaction2() {
                Ok(tx) => break tx,
                // Someone else reset the card: acknowledge with a reconnect (leave the
                // card as it is) and tell the caller its login is gone.
                Err((again, ::pcsc::Error::ResetCard)) if !reset_seen => {
                    reset_seen = true;
                    again
                        .reconnect(ShareMode::Shared, *protocols, Disposition::LeaveCard)
                        .map_err(map_error)?;
                    card = again;
                }
                Err((_, ::pcsc::Error::ResetCard)) => {
                    return Err(ReaderError::Io("card keeps resetting".into()));
                }
                Err((_, e)) => return Err(map_error(e)),
            }
        };
        if reset_seen {
            *atr = current_atr(&tx);
        }
        body(
            &mut DirectLink {
                tx: &mut tx,
                protocols: *protocols,
                buf,
                atr,
            },
            reset_seen,
        );
        // An error ending the transaction is not the operation's: pcsc-lite ends it
        // with the handle at the latest (dropping `tx` tries once more).
        let _ = tx.end(Disposition::LeaveCard);
        Ok(())
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }
}
