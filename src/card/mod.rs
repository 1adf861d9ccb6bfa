//! The card profile as operations (pkcs11-spec.md Part 1): bind (read PKCS#15),
//! PIN operations, signing, random. Every public operation is ONE transaction.
//!
//! - `types`: the token data bind returns; `error`: `CardError` and status words;
//! - `profile`: every command APDU, built from what the ATR says (one place to vary
//!   encodings per card family); `pin`: PIN encoding;
//! - `bind` (the phases of reading the PKCS#15 structure), `files` (file reads),
//!   `cache` (the persistent bind cache), `keys` (public keys from DER), `atr`.
//!
//! The APDU transport under it (transactions, `6Cxx`, `61xx`) is `crate::apdu`. The
//! exact APDU sequences are documented in pkcs11-spec.md Part 3.

pub mod atr;
mod bind;
pub mod cache;
mod error;
mod files;
mod keys;
mod pin;
pub mod profile;
mod types;

pub use crate::apdu::{thread_io, IoCounters};
pub use cache::BindCache;
pub use error::CardError;
pub use types::*;

use crate::apdu::transport::{self, Transport};
use crate::apdu::{sw, Command, Response};
use crate::reader::CardChannel;
use error::{pin_command_error, status_error};
use files::FileSource;
use pin::encode_pin;
use profile::{Profile, ResetRetry};
use zeroize::Zeroizing;

/// A connected card speaking the eimza card profile.
pub struct Card {
    channel: Box<dyn CardChannel>,
    state: CardState,
}

/// What the module keeps about the card between transactions.
pub(crate) struct CardState {
    /// Incremented each time the channel reported a reset by someone else.
    reset_epoch: u64,
    /// From the ATR (read again at each transaction: a reset may change it).
    profile: Profile,
    /// The PKCS#15 DF is the current DF (cleared by any reset).
    app_selected: bool,
    /// Path of the PKCS#15 DF from the MF, without `3F00` (SELECT P1 08).
    app_path: Vec<u8>,
    /// APDUs sent since the card was wrapped (instrumentation, tests).
    apdus_sent: u64,
    /// Where bind's file reads come from (the card, or a cache entry) and whether
    /// they are recorded for the cache. `Card` outside bind.
    files: FileSource,
    /// A cache entry a cold bind produced (card serial, entry), stored after the
    /// transaction so the card is not held while the file is written.
    new_cache_entry: Option<(Vec<u8>, cache::Entry)>,
}

/// One transaction in progress: the card's state and the APDU transport.
pub(crate) struct Tx<'a, 't> {
    card: &'a mut CardState,
    io: &'a mut Transport<'t>,
    /// The card was reset by someone else since our last transaction.
    reset_seen: bool,
}

impl std::ops::Deref for Tx<'_, '_> {
    type Target = CardState;
    fn deref(&self) -> &CardState {
        self.card
    }
}

impl std::ops::DerefMut for Tx<'_, '_> {
    fn deref_mut(&mut self) -> &mut CardState {
        self.card
    }
}

impl Tx<'_, '_> {
    /// One command under the transport rules (§3.1).
    fn exchange(&mut self, cmd: &Command) -> Result<Response, CardError> {
        Ok(self.io.exchange(cmd)?)
    }

    /// SELECT the PKCS#15 DF in the family's form (ISO: by name, no answer data).
    fn select_application(&mut self) -> Result<Response, CardError> {
        let select = self.profile.select_application(&self.app_path);
        let r = self.exchange(&select)?;
        if r.is_ok() {
            self.app_selected = true;
        }
        Ok(r)
    }

    /// Make sure the PKCS#15 DF is current (after a reset the MF is), in the family's
    /// form, else by the path found at bind. `true` if it was selected now.
    fn ensure_application(&mut self) -> Result<bool, CardError> {
        if self.app_selected {
            return Ok(false);
        }
        let r = self.select_application()?;
        if r.is_ok() {
            return Ok(true);
        }
        let select = self.profile.select_path(&self.app_path);
        if select == self.profile.select_application(&self.app_path) {
            // The family selects the application by this path already (AKIS v1.0).
            return Err(CardError::NotRecognized);
        }
        let r = self.exchange(&select)?;
        if !r.is_ok() {
            return Err(CardError::NotRecognized);
        }
        self.app_selected = true;
        Ok(true)
    }

    /// A command addressed to the PKCS#15 DF. "Not found" answers may mean another
    /// application left a different DF current: select again before the next command.
    fn exchange_in_application(&mut self, cmd: &Command) -> Result<Response, CardError> {
        let r = self.exchange(cmd)?;
        if matches!(r.sw(), sw::NOT_FOUND | sw::REF_DATA_NOT_FOUND) {
            self.app_selected = false;
        }
        Ok(r)
    }

    /// A retry counter (VERIFY without data); `Unknown`, with nothing sent, for a family
    /// without a counter query (AKIS v1.0).
    fn query_pin(&mut self, reference: u8) -> Result<PinStatus, CardError> {
        let Some(query) = self.profile.pin_counter(reference) else {
            return Ok(PinStatus::Unknown);
        };
        self.ensure_application()?;
        let r = self.exchange_in_application(&query)?;
        match r.sw() {
            sw::OK => Ok(PinStatus::Verified),
            sw::AUTH_BLOCKED | sw::REF_DATA_UNUSABLE => Ok(PinStatus::Blocked),
            _ => match r.tries_left() {
                Some(0) => Ok(PinStatus::Blocked),
                Some(n) => Ok(PinStatus::TriesLeft(n)),
                None => Err(status_error(r.sw())),
            },
        }
    }

    /// A command carrying a PIN: sent once, never repeated, whatever the answer.
    /// `sets_new_value`: CHANGE REFERENCE DATA or RESET RETRY COUNTER, where `6A80`
    /// means the new value breaks the card's policy (no try spent).
    fn pin_command(&mut self, cmd: &Command, sets_new_value: bool) -> Result<(), CardError> {
        let r = self.exchange_in_application(cmd)?;
        match r.sw() {
            sw::OK => Ok(()),
            sw::INCORRECT_DATA if sets_new_value => Err(CardError::DataInvalid),
            _ => Err(pin_command_error(&r)),
        }
    }
}

impl Card {
    /// Wrap a channel. Sends nothing.
    pub fn new(channel: Box<dyn CardChannel>) -> Self {
        let profile = Profile::from_atr(channel.atr());
        Card {
            channel,
            state: CardState {
                reset_epoch: 0,
                profile,
                app_selected: false,
                app_path: vec![0x3D, 0x00],
                apdus_sent: 0,
                files: FileSource::Card,
                new_cache_entry: None,
            },
        }
    }

    /// Number of resets by others seen so far; the PKCS#11 layer logs the user out
    /// when this changes.
    pub fn reset_epoch(&self) -> u64 {
        self.state.reset_epoch
    }

    /// APDUs sent through this card object so far (GET RESPONSE and re-sends included).
    pub fn apdus_sent(&self) -> u64 {
        self.state.apdus_sent
    }

    /// What the ATR offered at the last transaction.
    pub fn capabilities(&self) -> atr::Capabilities {
        self.state.profile.capabilities
    }

    /// Run `op` in one transaction (§3.1): the profile is read from the current ATR,
    /// a reset by someone else is noted (epoch, application no longer selected).
    fn transaction<T>(
        &mut self,
        op: impl FnOnce(&mut Tx<'_, '_>) -> Result<T, CardError>,
    ) -> Result<T, CardError> {
        let Card { channel, state } = self;
        transport::transaction(channel.as_mut(), |io, reset_seen| {
            if reset_seen {
                state.reset_epoch += 1;
                state.app_selected = false;
            }
            state.profile = Profile::from_atr(io.atr());
            io.set_extended(state.profile.extended_length());
            let result = op(&mut Tx {
                card: state,
                io,
                reset_seen,
            });
            state.apdus_sent += io.apdus_sent();
            result
        })?
    }

    /// Recognise the card (ATR family + SELECT PKCS#15 AID) and read the PKCS#15
    /// structure and PIN counters. One transaction. No cache.
    pub fn bind(&mut self) -> Result<TokenData, CardError> {
        self.bind_with_cache(None)
    }

    /// [`bind`](Self::bind) with a persistent cache of the public files
    /// (pkcs11-spec.md §3.2.1): a card whose ATR and EF.TokenInfo match a stored entry
    /// is bound from it (SELECT, TokenInfo, PIN and PUK counters: 4 APDUs); otherwise the
    /// card is read and the entry (re)written. If a served entry does not bind, the card
    /// is read again in full, in a second transaction.
    pub fn bind_with_cache(&mut self, cache: Option<&BindCache>) -> Result<TokenData, CardError> {
        if Profile::from_atr(self.channel.atr()).family.is_none() {
            return Err(CardError::NotRecognized);
        }
        let result = self.transaction(|tx| bind::bind(tx, cache, true));
        let served = matches!(self.state.files, FileSource::Serve(_));
        self.state.files = FileSource::Card;
        let result = match result {
            Err(e) if served && !matches!(e, CardError::Reader(_)) => {
                crate::log_at!(
                    crate::log::Level::Warn,
                    "bind: cached files did not bind ({e:?}); reading the card"
                );
                let again = self.transaction(|tx| bind::bind(tx, cache, false));
                self.state.files = FileSource::Card;
                again
            }
            other => other,
        };
        self.store_cache_entry(cache);
        result
    }

    fn store_cache_entry(&mut self, cache: Option<&BindCache>) {
        let (Some(cache), Some((serial, entry))) = (cache, self.state.new_cache_entry.take())
        else {
            return;
        };
        match cache.store(&serial, &entry) {
            Ok(()) => crate::log_at!(
                crate::log::Level::Debug,
                "bind: cache entry written for card {}",
                crate::log::hex(&serial)
            ),
            Err(e) => crate::log_at!(
                crate::log::Level::Info,
                "bind: cache entry not written: {e}"
            ),
        }
    }

    /// VERIFY with data (exactly one APDU carrying the PIN; never retried).
    pub fn verify(&mut self, pin: &PinInfo, value: &[u8]) -> Result<(), CardError> {
        let data = encode_pin(pin, value)?;
        self.transaction(|tx| {
            tx.ensure_application()?;
            let verify = tx.profile.verify(pin.reference, &data);
            tx.pin_command(&verify, false)
        })
    }

    /// VERIFY without data: the counter, spending no try (`Unknown` without I/O on a
    /// family that has no counter query).
    pub fn pin_status(&mut self, pin: &PinInfo) -> Result<PinStatus, CardError> {
        self.transaction(|tx| tx.query_pin(pin.reference))
    }

    /// CHANGE REFERENCE DATA old‖new.
    pub fn change_reference_data(
        &mut self,
        pin: &PinInfo,
        old: &[u8],
        new: &[u8],
    ) -> Result<(), CardError> {
        let old = encode_pin(pin, old)?;
        let new = encode_pin(pin, new)?;
        self.transaction(|tx| {
            let change = tx
                .profile
                .change_reference_data(pin.reference, &old, &new)
                .ok_or(CardError::DataInvalid)?;
            tx.ensure_application()?;
            tx.pin_command(&change, true)
        })
    }

    /// RESET RETRY COUNTER: `puk` Some → P1 00 (PUK‖new); None → P1 02 (PUK verified
    /// before). Without `puk` the command rests on the SO login: after a reset by others
    /// that login is gone, so `ResetLostLogin` without sending anything — a security
    /// status set since then is someone else's (pkcs11-spec.md §2.4).
    pub fn reset_retry_counter(
        &mut self,
        pin: &PinInfo,
        puk: Option<(&PinInfo, &[u8])>,
        new_pin: &[u8],
    ) -> Result<(), CardError> {
        let new = encode_pin(pin, new_pin)?;
        let mut data = Zeroizing::new(Vec::new());
        let form = match puk {
            Some((puk_info, puk_value)) => {
                data.extend_from_slice(&encode_pin(puk_info, puk_value)?);
                ResetRetry::WithPuk
            }
            None => ResetRetry::AfterSoLogin,
        };
        data.extend_from_slice(&new);
        self.transaction(|tx| {
            if tx.reset_seen && form == ResetRetry::AfterSoLogin {
                return Err(CardError::ResetLostLogin);
            }
            tx.ensure_application()?;
            let reset = tx.profile.reset_retry_counter(form, pin.reference, &data);
            tx.pin_command(&reset, true)
        })
    }

    /// LOGOUT (80 1A 00 00); falls back to a card reset if the card refuses.
    pub fn logout(&mut self) -> Result<(), CardError> {
        self.transaction(|tx| {
            let logout = tx.profile.logout();
            match tx.exchange(&logout) {
                Ok(r) if r.is_ok() => Ok(()),
                Err(CardError::Reader(e)) => Err(CardError::Reader(e)),
                _ => {
                    tx.io.reset()?;
                    tx.app_selected = false;
                    Ok(())
                }
            }
        })
    }

    /// MSE SET DST + PSO CDS (+ GET RESPONSE) in one transaction. With
    /// `pin_first` (userConsent keys), VERIFY is sent in the same transaction, right
    /// before the PSO (after the MSE), as the card requires.
    /// Returns `ResetLostLogin` without sending PSO if the card was reset by others.
    pub fn sign(
        &mut self,
        key_ref: u8,
        algorithm: SignAlgorithm,
        input: &[u8],
        pin_first: Option<(&PinInfo, &[u8])>,
    ) -> Result<Vec<u8>, CardError> {
        let input_ok = match algorithm {
            SignAlgorithm::RsaPkcs1 => !input.is_empty(),
            SignAlgorithm::RsaPss(h) => input.len() == h.output_len(),
            SignAlgorithm::Ecdsa => (1..=64).contains(&input.len()),
        };
        if !input_ok {
            return Err(CardError::DataInvalid);
        }
        let pin_data = match pin_first {
            Some((pin, value)) => Some((pin.reference, encode_pin(pin, value)?)),
            None => None,
        };
        self.transaction(|tx| {
            if tx.reset_seen {
                return Err(CardError::ResetLostLogin);
            }
            // An input longer than the card takes in one command (AKIS v1.0: 244
            // bytes; 255 without extended length) is refused unsent.
            if input.len() > tx.profile.max_command_data() {
                return Err(CardError::DataInvalid);
            }
            // An algorithm the card family does not have is refused before any APDU
            // (the PKCS#11 layer does not offer its mechanisms on such a token).
            let mse = tx
                .profile
                .set_signing_key(algorithm, key_ref)
                .ok_or(CardError::Status(sw::FUNCTION_NOT_SUPPORTED))?;
            let selected_now = tx.ensure_application()?;
            let mut r = tx.exchange_in_application(&mse)?;
            if r.sw() == sw::REF_DATA_NOT_FOUND && !selected_now {
                // Perhaps another application changed the current DF: MSE carries no
                // PIN, so select the application and ask once more.
                tx.ensure_application()?;
                r = tx.exchange_in_application(&mse)?;
            }
            match r.sw() {
                sw::OK => {}
                sw::REF_DATA_NOT_FOUND => return Err(CardError::KeyNotFound),
                sw::INCORRECT_DATA => return Err(CardError::DataInvalid),
                other => return Err(status_error(other)),
            }
            // userConsent: the VERIFY must be the command right before the PSO (§1.4),
            // so it comes after the MSE.
            if let Some((reference, data)) = &pin_data {
                let verify = tx.profile.verify(*reference, data);
                tx.pin_command(&verify, false)?;
            }
            let pso = tx.profile.compute_signature(input);
            let r = tx.exchange_in_application(&pso)?;
            match r.sw() {
                sw::OK if !r.data.is_empty() => Ok(r.data.to_vec()),
                sw::OK => Err(CardError::Malformed("empty signature")),
                sw::REF_DATA_NOT_FOUND => Err(CardError::KeyNotFound),
                sw::INCORRECT_DATA | sw::WRONG_LENGTH => Err(CardError::DataInvalid),
                other => Err(status_error(other)),
            }
        })
    }

    /// GET CHALLENGE, as many APDUs as needed for `len` bytes.
    pub fn get_challenge(&mut self, len: usize) -> Result<Zeroizing<Vec<u8>>, CardError> {
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        if len == 0 {
            return Ok(out);
        }
        self.transaction(|tx| {
            let chunk_max = tx.profile.max_challenge();
            while out.len() < len {
                let want = (len - out.len()).min(chunk_max);
                let challenge = tx.profile.get_challenge(want);
                let r = tx.exchange(&challenge)?;
                if !r.is_ok() {
                    return Err(status_error(r.sw()));
                }
                if r.data.len() != want {
                    return Err(CardError::Malformed("GET CHALLENGE length"));
                }
                out.extend_from_slice(&r.data);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
