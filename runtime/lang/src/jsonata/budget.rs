//! A memory budget for one JSONata evaluation.
//!
//! jsonata-core bounds time, stack depth and sequence length, not memory: a loop that doubles a
//! string reaches gigabytes within its time limit. [`BudgetAlloc`] wraps the process allocator
//! and, while a budgeted evaluation runs on a thread, counts what that thread holds beyond what
//! it held when the evaluation began. Past the budget it cancels the evaluation through
//! jsonata-core's cancel token, which the evaluator checks at every node, every element a
//! higher-order function hands its callback and every pass of a loop; the evaluation then
//! ends with an error instead of growing on. A single built-in call is not interrupted (the
//! token is seen after it returns), so what one call can allocate at once is bounded elsewhere
//! (sequence length, `$pad`'s width).
//!
//! The binary installs the allocator (`#[global_allocator]` in `main.rs`); without it nothing
//! is counted and only the time and sequence limits apply.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::marker::PhantomData;

use jsonata_core::evaluator::CancelToken;

/// What the current thread's budgeted evaluation has used, if one runs.
#[derive(Clone, Copy)]
struct Meter {
    /// Bytes allocated minus bytes freed since the evaluation began.
    live: isize,
    limit: isize,
    /// The evaluation's token; null once cancelled (or when none runs).
    token: *const CancelToken,
    active: bool,
}

const IDLE: Meter = Meter {
    live: 0,
    limit: 0,
    token: std::ptr::null(),
    active: false,
};

thread_local! {
    // Const-initialized and without destructors: reading them never allocates, so the
    // allocator itself may use them. `ACTIVE` alone is read on every allocation of every
    // thread; the meter only while an evaluation runs.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static METER: Cell<Meter> = const { Cell::new(IDLE) };
}

#[inline(always)]
fn account(delta: isize) {
    if ACTIVE.try_with(Cell::get).unwrap_or(false) {
        count(delta);
    }
}

#[cold]
fn count(delta: isize) {
    let _ = METER.try_with(|m| {
        let mut meter = m.get();
        if !meter.active {
            return;
        }
        meter.live = meter.live.saturating_add(delta);
        if meter.live > meter.limit && !meter.token.is_null() {
            // SAFETY: `token` was set by `Budget::enter` from a reference that the returned
            // guard borrows, and the guard resets the meter (making the pointer unreachable)
            // before that borrow ends; the meter is thread-local, so no other thread reads it.
            // `cancel` is an atomic store: it neither allocates nor re-enters the allocator.
            unsafe { (*meter.token).cancel() };
            meter.token = std::ptr::null();
        }
        m.set(meter);
    });
}

/// The process allocator, counted per thread while a budgeted evaluation runs.
pub struct BudgetAlloc<A>(pub A);

// SAFETY: every method forwards to the wrapped allocator unchanged (same layout, same pointer)
// and only adds bookkeeping that neither allocates nor unwinds (`account` touches a
// const-initialized thread-local `Cell` and may perform one atomic store).
unsafe impl<A: GlobalAlloc> GlobalAlloc for BudgetAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.dealloc(ptr, layout) };
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// A budgeted evaluation in progress on this thread; dropping it ends the budget.
pub struct Budget<'t> {
    outer: Meter,
    _token: PhantomData<&'t CancelToken>,
}

impl<'t> Budget<'t> {
    /// Starts counting this thread's allocations against `limit` bytes, cancelling `token`
    /// when they pass it. An evaluation started inside another keeps the outer budget.
    pub fn enter(limit: usize, token: &'t CancelToken) -> Budget<'t> {
        let outer = METER.with(Cell::get);
        if !outer.active {
            METER.with(|m| {
                m.set(Meter {
                    live: 0,
                    limit: limit.min(isize::MAX as usize) as isize,
                    token,
                    active: true,
                })
            });
            ACTIVE.with(|a| a.set(true));
        }
        Budget {
            outer,
            _token: PhantomData,
        }
    }
}

impl Drop for Budget<'_> {
    fn drop(&mut self) {
        if !self.outer.active {
            ACTIVE.with(|a| a.set(false));
            METER.with(|m| m.set(IDLE));
        }
    }
}
