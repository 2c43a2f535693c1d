//! Frame header codec: decode and encode of the three length forms, masked and not.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use wsproto::internal::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};

fn headers() -> Vec<(&'static str, FrameHeader)> {
    let h = |payload_len: u64, mask: Option<[u8; 4]>| FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask,
        payload_len,
    };
    let key = Some([0x37, 0xfa, 0x21, 0x3d]);
    vec![
        ("7bit/masked", h(16, key)),
        ("16bit/masked", h(1024, key)),
        ("64bit/masked", h(1 << 20, key)),
        ("7bit/unmasked", h(16, None)),
        ("16bit/unmasked", h(1024, None)),
        ("64bit/unmasked", h(1 << 20, None)),
    ]
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("header_decode");
    for (name, h) in headers() {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut buf);
        let wire = buf[..n].to_vec();
        g.bench_function(name, |b| b.iter(|| FrameHeader::parse(black_box(&wire))));
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("header_encode");
    for (name, h) in headers() {
        g.bench_function(format!("{name}/array"), |b| {
            let mut buf = [0u8; MAX_HEADER_LEN];
            b.iter(|| black_box(&h).encode(black_box(&mut buf)))
        });
        g.bench_function(format!("{name}/vec"), |b| {
            let mut out = Vec::with_capacity(64);
            b.iter(|| {
                out.clear();
                black_box(&h).write_to(&mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs (the defaults are 3 s + 5 s per benchmark); override with --warm-up-time / --measurement-time.
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = decode, encode
}
criterion_main!(benches);
