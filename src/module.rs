//! The library of one `C_Initialize`: the reader set, the slot table (one slot per
//! reader, never shrinking), the session table and its handles, slot events, and
//! `C_Finalize` (pkcs11-spec.md §2.2–§2.4). Sends nothing to any card itself: card
//! operations are the slots', started by sessions.

use crate::card::BindCache;
use crate::log::Level;
use crate::log_at;
use crate::reader::{ReaderSet, ReaderState};
use crate::session::Session;
use crate::slot::{Slot, HANDLE_LIMIT};
use crate::token::{Login, Token};
use cryptoki_sys::*;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Module {
    readers: Arc<dyn ReaderSet>,
    slots: RwLock<Vec<Arc<Slot>>>,
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    next_session: AtomicU64,
    finalized: AtomicBool,
    bind_cache: Option<Arc<BindCache>>,
}

impl Module {
    /// A library state over any reader set, without a bind cache. Lists the readers;
    /// sends nothing to any card.
    pub fn new(readers: Arc<dyn ReaderSet>) -> Module {
        Self::with_bind_cache(readers, None)
    }

    /// [`new`](Self::new) with a persistent cache of public card files for bind.
    pub fn with_bind_cache(readers: Arc<dyn ReaderSet>, bind_cache: Option<BindCache>) -> Module {
        let module = Module {
            readers,
            slots: RwLock::new(Vec::new()),
            sessions: RwLock::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            finalized: AtomicBool::new(false),
            bind_cache: bind_cache.map(Arc::new),
        };
        module.refresh_slots(true);
        module
    }

    /// Add slots for new readers; the list never shrinks.
    fn refresh_slots(&self, initial: bool) {
        let readers = self.readers.readers();
        if readers.len() <= self.slots.read().len() {
            return;
        }
        let mut slots = self.slots.write();
        for (index, reader) in readers.into_iter().enumerate().skip(slots.len()) {
            // Initial slots start "seen"; later ones report their card as an event.
            let seen = if initial {
                reader.state()
            } else {
                ReaderState::default()
            };
            log_at!(Level::Info, "slot {index}: reader '{}'", reader.name());
            slots.push(Arc::new(Slot::new(
                index as CK_SLOT_ID,
                reader,
                seen,
                self.bind_cache.clone(),
            )));
        }
    }

    pub fn slot(&self, id: CK_SLOT_ID) -> Result<Arc<Slot>, CK_RV> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.slots.read().get(i).cloned())
            .ok_or(CKR_SLOT_ID_INVALID)
    }

    pub fn slot_list(&self, token_present: bool) -> Vec<CK_SLOT_ID> {
        self.refresh_slots(false);
        let slots: Vec<Arc<Slot>> = self.slots.read().clone();
        slots
            .iter()
            .filter(|s| !token_present || s.reader.state().present)
            .map(|s| s.id)
            .collect()
    }

    pub fn slot_info(&self, id: CK_SLOT_ID) -> Result<CK_SLOT_INFO, CK_RV> {
        Ok(self.slot(id)?.info())
    }

    /// This application's sessions on `token`: (all, read/write).
    fn session_counts(&self, token: &Arc<Token>) -> (usize, usize) {
        let sessions = self.sessions.read();
        let mine = sessions.values().filter(|s| Arc::ptr_eq(&s.token, token));
        mine.fold((0, 0), |(all, rw), s| (all + 1, rw + usize::from(s.rw)))
    }

    pub fn token_info(&self, id: CK_SLOT_ID) -> Result<CK_TOKEN_INFO, CK_RV> {
        let token = self.slot(id)?.token()?;
        let (sessions, rw) = self.session_counts(&token);
        Ok(token.info(sessions, rw))
    }

    pub fn mechanism_list(&self, id: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>, CK_RV> {
        let token = self.slot(id)?.token()?;
        let mut list = crate::mechanism::mechanism_list(
            token.rsa_bits().is_some(),
            token.ec_bits().is_some(),
            token.data.family,
        );
        list.extend(crate::digest::DIGEST_MECHANISMS);
        Ok(list)
    }

    pub fn mechanism_info(
        &self,
        id: CK_SLOT_ID,
        m: CK_MECHANISM_TYPE,
    ) -> Result<CK_MECHANISM_INFO, CK_RV> {
        let token = self.slot(id)?.token()?;
        if let Some(info) = crate::digest::digest_mechanism_info(m) {
            return Ok(info);
        }
        if !crate::mechanism::offered(m, token.data.family) {
            return Err(CKR_MECHANISM_INVALID);
        }
        crate::mechanism::mechanism_info(m, token.rsa_bits(), token.ec_bits())
    }

    // ---- sessions ----

    pub fn open_session(
        &self,
        id: CK_SLOT_ID,
        flags: CK_FLAGS,
    ) -> Result<CK_SESSION_HANDLE, CK_RV> {
        let slot = self.slot(id)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        let token = slot.token()?;
        let handle = self.next_session.fetch_add(1, Ordering::Relaxed);
        if handle > HANDLE_LIMIT {
            return Err(CKR_SESSION_COUNT);
        }
        let handle = handle as CK_SESSION_HANDLE;
        let session = Arc::new(Session::new(
            handle,
            slot,
            token,
            flags & CKF_RW_SESSION != 0,
        ));
        self.sessions.write().insert(handle, session);
        Ok(handle)
    }

    /// A live session: its token must still be the card in the reader.
    pub fn session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Session>, CK_RV> {
        let session = self
            .sessions
            .read()
            .get(&handle)
            .cloned()
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        match session.slot.current_token() {
            Some(t) if Arc::ptr_eq(&t, &session.token) => Ok(session),
            _ => {
                // The card went away: every session of that token is gone.
                self.sessions
                    .write()
                    .retain(|_, s| !Arc::ptr_eq(&s.token, &session.token));
                Err(CKR_SESSION_HANDLE_INVALID)
            }
        }
    }

    pub fn close_session(&self, handle: CK_SESSION_HANDLE) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        if self.sessions.write().remove(&handle).is_none() {
            // Closed concurrently by another thread.
            return Err(CKR_SESSION_HANDLE_INVALID);
        }
        self.logout_if_unused(&session.slot, &session.token);
        Ok(())
    }

    pub fn close_all_sessions(&self, id: CK_SLOT_ID) -> Result<(), CK_RV> {
        let slot = self.slot(id)?;
        let mut closed = Vec::new();
        self.sessions.write().retain(|_, s| {
            let mine = s.slot.id == slot.id;
            if mine {
                closed.push(s.token.clone());
            }
            !mine
        });
        if let Some(token) = closed.first() {
            self.logout_if_unused(&slot, token);
        }
        Ok(())
    }

    /// Closing the last session of a token logs it out (PKCS#11 §5.6).
    fn logout_if_unused(&self, slot: &Slot, token: &Arc<Token>) {
        if self.session_counts(token).0 == 0 && token.login() != Login::Public {
            let _ = slot.with_card(token, |card| card.logout());
            token.set_login(Login::Public);
        }
    }

    // ---- events and shutdown ----

    pub fn is_finalized(&self) -> bool {
        self.finalized.load(Ordering::SeqCst)
    }

    pub fn wait_for_slot_event(&self, dont_block: bool) -> Result<CK_SLOT_ID, CK_RV> {
        loop {
            if self.is_finalized() {
                return Err(CKR_CRYPTOKI_NOT_INITIALIZED);
            }
            self.refresh_slots(false);
            let slots: Vec<Arc<Slot>> = self.slots.read().clone();
            for slot in slots {
                let state = slot.reader.state();
                let mut seen = slot.event_seen.lock();
                if state.present != seen.present || state.insertions != seen.insertions {
                    *seen = state;
                    return Ok(slot.id);
                }
            }
            if dont_block {
                return Err(CKR_NO_EVENT);
            }
            self.readers.wait_for_change(Duration::from_millis(500));
        }
    }

    /// C_Finalize: log out logged-in tokens, close the card connections, wake waiters,
    /// drop sessions.
    pub fn finalize(&self) {
        self.finalized.store(true, Ordering::SeqCst);
        self.readers.cancel();
        let slots: Vec<Arc<Slot>> = self.slots.read().clone();
        for slot in slots {
            if let Some(token) = slot.current_token() {
                if token.login() != Login::Public {
                    let _ = slot.with_card(&token, |card| card.logout());
                    token.set_login(Login::Public);
                }
            }
            // Now, not when the last reference to the module goes: the application may
            // unload the library right after C_Finalize (pkcs11-spec.md §2.1).
            slot.disconnect();
        }
        self.sessions.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{Reader, ReaderError, SteppedChannel};
    use std::sync::atomic::AtomicUsize;

    /// A reader whose card answers SELECT with 9000 and every other APDU with `sw`,
    /// counting them.
    struct FaultyReader {
        sw: [u8; 2],
        apdus: Arc<AtomicUsize>,
    }

    struct FaultyChannel {
        sw: [u8; 2],
        apdus: Arc<AtomicUsize>,
        atr: Vec<u8>,
    }

    /// The software card's ATR (pkcs11-spec.md §1.1) with its TCK.
    fn atr() -> Vec<u8> {
        let mut atr = vec![
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x56, 0x43, 0x31,
            0x73, 0xB4, 0x00, 0x40, 0x83, 0x05, 0x90, 0x00,
        ];
        let tck = atr[1..].iter().fold(0u8, |x, b| x ^ b);
        atr.push(tck);
        atr
    }

    impl SteppedChannel for FaultyChannel {
        fn begin(&mut self) -> Result<bool, ReaderError> {
            Ok(false)
        }
        fn end(&mut self) {}
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
            self.apdus.fetch_add(1, Ordering::SeqCst);
            // SELECT succeeds (the application is there); everything else fails.
            if apdu.get(1) == Some(&0xA4) {
                return Ok(vec![0x90, 0x00]);
            }
            Ok(self.sw.to_vec())
        }
        fn reset(&mut self) -> Result<(), ReaderError> {
            Ok(())
        }
        fn atr(&self) -> &[u8] {
            &self.atr
        }
    }

    impl Reader for FaultyReader {
        fn name(&self) -> &str {
            "faulty"
        }
        fn is_hardware(&self) -> bool {
            false
        }
        fn state(&self) -> ReaderState {
            ReaderState {
                present: true,
                atr: atr(),
                insertions: 1,
            }
        }
        fn connect(&self) -> Result<Box<dyn crate::reader::CardChannel>, ReaderError> {
            Ok(Box::new(FaultyChannel {
                sw: self.sw,
                apdus: self.apdus.clone(),
                atr: atr(),
            }))
        }
    }

    struct OneReader(Arc<FaultyReader>);

    impl ReaderSet for OneReader {
        fn readers(&self) -> Vec<Arc<dyn Reader>> {
            vec![self.0.clone()]
        }
        fn wait_for_change(&self, _timeout: Duration) -> bool {
            false
        }
        fn cancel(&self) {}
    }

    fn module_with_card_answering(sw: [u8; 2]) -> (Module, Arc<AtomicUsize>) {
        let apdus = Arc::new(AtomicUsize::new(0));
        let reader = Arc::new(FaultyReader {
            sw,
            apdus: apdus.clone(),
        });
        (Module::new(Arc::new(OneReader(reader))), apdus)
    }

    #[test]
    fn a_failing_bind_is_not_repeated_by_polling() {
        // A card error after the application was found, and a card without it.
        for sw in [[0x6F, 0x00], [0x6D, 0x00]] {
            let (module, apdus) = module_with_card_answering(sw);
            assert_eq!(apdus.load(Ordering::SeqCst), 0, "no card I/O at start");
            let first = module.token_info(0).map(|_| ()).unwrap_err();
            assert_eq!(first, CKR_DEVICE_ERROR, "{sw:02X?}");
            let sent = apdus.load(Ordering::SeqCst);
            assert!(sent > 0);
            for _ in 0..5 {
                assert_eq!(module.token_info(0).map(|_| ()), Err(first));
                assert_eq!(module.open_session(0, CKF_SERIAL_SESSION), Err(first));
            }
            assert_eq!(
                apdus.load(Ordering::SeqCst),
                sent,
                "polling read the card again"
            );
            // Slot info never talks to the card.
            assert_ne!(module.slot_info(0).unwrap().flags & CKF_TOKEN_PRESENT, 0);
        }
    }
}
