//! A byte and time budget for one render, kept per thread (a patch of Lyrebird's on MiniJinja
//! 3.0.5, see `LYREBIRD.md`).
//!
//! Fuel bounds how many instructions a render runs, but not what one instruction allocates or
//! how long it takes: `"x" * 100000000` is one instruction, five `~` doublings of it ask for
//! gigabytes, and a test of a long string in a loop scans it on every turn. Within [`scope`],
//! every string the engine builds is counted against the budget's bytes: operations whose size
//! is known beforehand (repetition, concatenation, padding widths) [`ensure`] it fits before
//! they allocate; other strings are counted as they are made, and once the bytes are spent the
//! next instruction fails, and displaying values writes nothing more. Every few hundred
//! instructions the deadline is looked at. Outside a scope nothing is limited, as upstream.

use std::cell::Cell;
use std::time::Instant;

use crate::error::{Error, ErrorKind};

/// How many instructions run between two looks at the clock.
const TICKS_PER_CLOCK: u32 = 256;

thread_local! {
    static REMAINING: Cell<usize> = const { Cell::new(usize::MAX) };
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static TICKS: Cell<u32> = const { Cell::new(0) };
}

/// What one render may spend.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Bytes of strings (and of repeated sequences) the render may build.
    pub bytes: usize,
    /// When the render must have finished.
    pub deadline: Instant,
}

/// Runs `f` within `budget`, then restores the budget that was in force.
pub fn scope<R>(budget: Budget, f: impl FnOnce() -> R) -> R {
    struct Restore(usize, Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            REMAINING.set(self.0);
            DEADLINE.set(self.1);
        }
    }
    let _restore = Restore(
        REMAINING.replace(budget.bytes),
        DEADLINE.replace(Some(budget.deadline)),
    );
    f()
}

/// Whether the bytes of the current scope are spent.
pub fn spent() -> bool {
    REMAINING.get() == 0
}

/// Fails (and spends the budget) when a string of `bytes` more would not fit; the string is
/// counted when it is made.
pub fn ensure(bytes: usize) -> Result<(), Error> {
    let remaining = REMAINING.get();
    if remaining != usize::MAX && bytes >= remaining {
        REMAINING.set(0);
        return Err(exhausted());
    }
    Ok(())
}

/// Takes `bytes` that are not a string (a repeated sequence's items) from the budget before
/// they are allocated; fails like [`ensure`] when they do not fit.
pub fn charge(bytes: usize) -> Result<(), Error> {
    ensure(bytes)?;
    note(bytes);
    Ok(())
}

/// Counts `bytes` already allocated; the next instruction fails if that spent the budget.
pub(crate) fn note(bytes: usize) {
    let remaining = REMAINING.get();
    if remaining != usize::MAX {
        REMAINING.set(remaining.saturating_sub(bytes));
    }
}

/// Called before every instruction: fails once the bytes are spent or the deadline passed.
pub(crate) fn tick() -> Result<(), Error> {
    if spent() {
        return Err(exhausted());
    }
    let ticks = TICKS.get().wrapping_add(1);
    TICKS.set(ticks);
    if ticks % TICKS_PER_CLOCK == 0
        && DEADLINE
            .get()
            .is_some_and(|deadline| Instant::now() >= deadline)
    {
        return Err(Error::new(ErrorKind::InvalidOperation, TIME_SPENT));
    }
    Ok(())
}

/// The detail of the error of a render whose bytes are spent.
pub const MEMORY_SPENT: &str = "the render's memory budget is spent";
/// The detail of the error of a render whose deadline passed.
pub const TIME_SPENT: &str = "the render's time budget is spent";

pub(crate) fn exhausted() -> Error {
    Error::new(ErrorKind::InvalidOperation, MEMORY_SPENT)
}
