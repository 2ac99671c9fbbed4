#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = skiff_fuzz::targets::challenge(data);
});
