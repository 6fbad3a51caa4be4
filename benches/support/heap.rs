//! Live heap bytes, counted by a global allocator, and a criterion
//! measurement built on them: a benchmark measured with [`HeapBytes`]
//! reports the bytes its routine left allocated per iteration, not time.

// A global allocator is unsafe by definition; this one only forwards.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::Throughput;

/// Forwards to the system allocator and keeps count of live bytes.
/// Install it with `#[global_allocator]` in the binary that measures.
pub struct CountingAllocator;

static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is
// updated on the side.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as the trait requires of our caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes currently allocated through [`CountingAllocator`].
pub fn live_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

/// Criterion measurement: heap bytes still allocated when the routine
/// returns (live after − live before; 0 if the routine freed more).
pub struct HeapBytes;

impl Measurement for HeapBytes {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        live_bytes()
    }

    fn end(&self, before: u64) -> u64 {
        live_bytes().saturating_sub(before)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &BytesFormatter
    }
}

struct BytesFormatter;

impl BytesFormatter {
    fn unit(typical: f64) -> (f64, &'static str) {
        if typical >= 1024.0 * 1024.0 {
            (1024.0 * 1024.0, "MiB")
        } else if typical >= 1024.0 {
            (1024.0, "KiB")
        } else {
            (1.0, "B")
        }
    }
}

impl ValueFormatter for BytesFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = Self::unit(typical);
        values.iter_mut().for_each(|v| *v /= divisor);
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        // Bytes retained per element processed.
        let per = match throughput {
            Throughput::Elements(n)
            | Throughput::Bytes(n)
            | Throughput::BytesDecimal(n)
            | Throughput::Bits(n) => *n as f64,
            Throughput::ElementsAndBytes { elements, .. } => *elements as f64,
        };
        let (divisor, unit) = Self::unit(typical / per.max(1.0));
        values.iter_mut().for_each(|v| *v /= divisor * per.max(1.0));
        match unit {
            "MiB" => "MiB/elem",
            "KiB" => "KiB/elem",
            _ => "B/elem",
        }
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "B"
    }
}
