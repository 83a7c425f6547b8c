//! Kiln's checksums and archives checked against the real command-line tools: what the
//! checksum and compress post-processors write must read back with `tar`, `unzip`, `gzip`,
//! `zstd` and `xz`, and digests must equal the `*sum` tools'. A missing tool fails the test.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_artifacts::{hash_reader, write_archive, ArchiveFormat, Entry, HashAlgorithm};

/// 2023-11-14 22:13:20 UTC.
const MAX_MTIME: u64 = 1_700_000_000;

/// Runs `program` with `args` in `dir` (TZ=UTC, C locale) and returns its stdout; panics,
/// failing the test, when the tool is missing or exits unsuccessfully.
fn run(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let output = kiln_test_tools::command(program)
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("could not run `{program}`: {e}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed with {}: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Deterministic bytes: a random-looking half and a repetitive half, so compressors have
/// something to do with both.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (out.len() / 4096) % 2 == 0 {
            out.extend_from_slice(&x.to_le_bytes());
        } else {
            out.extend_from_slice(b"kiln artifact ");
        }
    }
    out.truncate(len);
    out
}

struct Input {
    name: &'static str,
    bytes: Vec<u8>,
    mode: u32,
    mtime: u64,
}

const LONG_NAME: &str = "deeply/nested/directory/with/a/rather/long/path/that/does/not/fit/in/one/hundred/bytes/of/a/tar/header/disk-image.raw";

fn inputs() -> Vec<Input> {
    vec![
        Input {
            name: "z-last.txt",
            bytes: b"hello from kiln\n".to_vec(),
            mode: 0o644,
            mtime: MAX_MTIME - 86_400,
        },
        Input {
            name: "disk/image.raw",
            // Three chunks and a bit: exercises the chunked copies.
            bytes: data(3 * 1024 * 1024 + 12_345, 7),
            mode: 0o600,
            mtime: MAX_MTIME + 1_000_000,
        },
        Input {
            name: "bin/run.sh",
            bytes: b"#!/bin/sh\necho ok\n".to_vec(),
            mode: 0o755,
            mtime: 1_600_000_000,
        },
        Input {
            name: "empty",
            bytes: vec![],
            mode: 0o644,
            mtime: 0,
        },
        Input {
            name: LONG_NAME,
            bytes: data(100_000, 3),
            mode: 0o640,
            mtime: MAX_MTIME,
        },
    ]
}

/// Writes the inputs under `dir/src` (each with `file_mtime` on disk) and returns entries
/// for them, with each entry's own mtime shifted by `mtime_shift`.
fn make_entries(
    dir: &Path,
    inputs: &[Input],
    file_mtime: SystemTime,
    mtime_shift: u64,
) -> Vec<Entry> {
    inputs
        .iter()
        .map(|input| {
            let path = dir.join("src").join(input.name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &input.bytes).unwrap();
            let file = File::options().read(true).write(true).open(&path).unwrap();
            file.set_modified(file_mtime).unwrap();
            Entry::file(input.name, file, input.mode, input.mtime + mtime_shift)
        })
        .collect()
}

fn write(dir: &Path, file_name: &str, entries: Vec<Entry>, format: ArchiveFormat) -> PathBuf {
    write_with_level(dir, file_name, entries, format, None)
}

fn write_with_level(
    dir: &Path,
    file_name: &str,
    entries: Vec<Entry>,
    format: ArchiveFormat,
    level: Option<i32>,
) -> PathBuf {
    let path = dir.join(file_name);
    let out = File::create(&path).unwrap();
    let written = write_archive(entries, out, format, level, MAX_MTIME).unwrap();
    assert_eq!(
        written.size,
        fs::metadata(&path).unwrap().len(),
        "{format:?}: returned size"
    );
    // The digest computed on the way out is the file's (zip, written in place, has none).
    match &written.sha256 {
        Some(digest) => {
            let on_disk =
                hash_reader(File::open(&path).unwrap(), &[HashAlgorithm::Sha256]).unwrap();
            assert_eq!(digest, &on_disk[0], "{format:?}: returned sha256");
        }
        None => assert_eq!(format, ArchiveFormat::Zip),
    }
    path
}

fn assert_extracted(root: &Path, inputs: &[Input]) {
    for input in inputs {
        let got = fs::read(root.join(input.name))
            .unwrap_or_else(|e| panic!("{} not extracted: {e}", input.name));
        assert!(
            got == input.bytes,
            "{}: extracted {} bytes differ from the {} input bytes",
            input.name,
            got.len(),
            input.bytes.len()
        );
    }
}

fn tar_flags(format: ArchiveFormat) -> (&'static [&'static str], &'static [&'static str]) {
    match format {
        ArchiveFormat::Tar => (&["-xf"], &["-tvf"]),
        ArchiveFormat::TarGz => (&["-xzf"], &["-tvzf"]),
        ArchiveFormat::TarZst => (&["--zstd", "-xf"], &["--zstd", "-tvf"]),
        ArchiveFormat::TarXz => (&["-xJf"], &["-tvJf"]),
        other => unreachable!("{other:?} is not a tar format"),
    }
}

fn tar_round_trip(format: ArchiveFormat, level: Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    let entries = make_entries(dir.path(), &inputs, SystemTime::now(), 0);
    let file_name = format!("out.{}", format.name());
    let archive = write_with_level(dir.path(), &file_name, entries, format, level);
    let archive = archive.to_str().unwrap();
    let (extract, list) = tar_flags(format);

    let x = dir.path().join("x");
    fs::create_dir(&x).unwrap();
    run(&x, "tar", &[extract, &[archive]].concat());
    assert_extracted(&x, &inputs);

    let listing = String::from_utf8(run(&x, "tar", &[list, &[archive]].concat())).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_listed(
        &listing,
        &lines,
        &inputs,
        (" 0/0 ", "owner not 0/0"),
        [
            "2023-11-14 22:13",
            "2023-11-13 22:13",
            "2020-09-13 12:26",
            "1970-01-01 00:00",
        ],
    );
}

/// Checks a tool's long listing of an archive (`lines`, one per file) against `inputs`:
/// sorted names, each line with `mark` (else fails saying `why`), the input's mode as
/// `ls` shows it, and its clamped modification time as the tool shows the four the
/// inputs use (`MAX_MTIME`, 2023-11-13, 2020-09-13 and 0, in that order).
fn assert_listed(
    listing: &str,
    lines: &[&str],
    inputs: &[Input],
    (mark, why): (&str, &str),
    dates: [&str; 4],
) {
    let mut names: Vec<&str> = inputs.iter().map(|i| i.name).collect();
    names.sort_unstable();
    assert_eq!(lines.len(), names.len(), "{listing}");
    for (line, name) in lines.iter().zip(&names) {
        assert!(line.ends_with(name), "entries out of order: {listing}");
        assert!(line.contains(mark), "{why}: {line}");
        let input = inputs.iter().find(|i| i.name == *name).unwrap();
        let mode = match input.mode {
            0o644 => "-rw-r--r--",
            0o600 => "-rw-------",
            0o755 => "-rwxr-xr-x",
            0o640 => "-rw-r-----",
            other => unreachable!("mode {other:o}"),
        };
        assert!(line.starts_with(mode), "mode {mode} expected: {line}");
        let date = match input.mtime.min(MAX_MTIME) {
            MAX_MTIME => dates[0],
            1_699_913_600 => dates[1],
            1_600_000_000 => dates[2],
            0 => dates[3],
            other => unreachable!("mtime {other}"),
        };
        assert!(line.contains(date), "mtime {date} expected: {line}");
    }
}

#[test]
fn tar_round_trips_through_tar() {
    tar_round_trip(ArchiveFormat::Tar, None);
    // Tar does not compress: a level is accepted and has no effect.
    tar_round_trip(ArchiveFormat::Tar, Some(42));
}

#[test]
fn tar_gz_round_trips_through_tar() {
    tar_round_trip(ArchiveFormat::TarGz, None);
    tar_round_trip(ArchiveFormat::TarGz, Some(1));
    tar_round_trip(ArchiveFormat::TarGz, Some(9));
}

#[test]
fn tar_zst_round_trips_through_tar() {
    tar_round_trip(ArchiveFormat::TarZst, None);
    tar_round_trip(ArchiveFormat::TarZst, Some(1));
    tar_round_trip(ArchiveFormat::TarZst, Some(19));
}

#[test]
fn tar_xz_round_trips_through_tar() {
    tar_round_trip(ArchiveFormat::TarXz, None);
    tar_round_trip(ArchiveFormat::TarXz, Some(0));
}

fn zip_round_trip(level: Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    let entries = make_entries(dir.path(), &inputs, SystemTime::now(), 0);
    let archive = write_with_level(dir.path(), "out.zip", entries, ArchiveFormat::Zip, level);
    let archive = archive.to_str().unwrap();

    let x = dir.path().join("x");
    fs::create_dir(&x).unwrap();
    run(&x, "unzip", &["-o", archive]);
    assert_extracted(&x, &inputs);

    // zipinfo: `-rwxr-xr-x  3.0 unx  18 tx defN 20-Sep-13 12:26 bin/run.sh`; DOS times are
    // shown as stored, with no time zone applied.
    let listing = String::from_utf8(run(&x, "unzip", &["-Z", "-T", archive])).unwrap();
    let lines: Vec<&str> = listing.lines().filter(|l| l.starts_with('-')).collect();
    // -T: yyyymmdd.hhmmss; DOS keeps even seconds; before 1980 becomes 1980-01-01.
    assert_listed(
        &listing,
        &lines,
        &inputs,
        (" unx ", "not made on Unix"),
        [
            "20231114.221320",
            "20231113.221320",
            "20200913.122640",
            "19800101.000000",
        ],
    );
}

#[test]
fn zip_round_trips_through_unzip() {
    zip_round_trip(None);
    zip_round_trip(Some(1));
    zip_round_trip(Some(9));
}

fn single_stream_round_trip(format: ArchiveFormat, tool: &str, level: Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    let input = &inputs[1];
    let entries = make_entries(
        dir.path(),
        std::slice::from_ref(input),
        SystemTime::now(),
        0,
    );
    let file_name = format!("image.raw.{}", format.name());
    let compressed = write_with_level(dir.path(), &file_name, entries, format, level);

    // Decompressed in place, as a user would: `image.raw.gz` becomes `image.raw`.
    run(dir.path(), tool, &["-d", compressed.to_str().unwrap()]);
    let got = fs::read(dir.path().join("image.raw")).unwrap();
    assert!(got == input.bytes, "{format:?}: decompressed bytes differ");
}

#[test]
fn gz_round_trips_through_gzip() {
    single_stream_round_trip(ArchiveFormat::Gz, "gzip", None);
    single_stream_round_trip(ArchiveFormat::Gz, "gzip", Some(1));
    single_stream_round_trip(ArchiveFormat::Gz, "gzip", Some(9));
}

#[test]
fn zst_round_trips_through_zstd() {
    single_stream_round_trip(ArchiveFormat::Zst, "zstd", None);
    single_stream_round_trip(ArchiveFormat::Zst, "zstd", Some(1));
    single_stream_round_trip(ArchiveFormat::Zst, "zstd", Some(19));
}

#[test]
fn xz_round_trips_through_xz() {
    single_stream_round_trip(ArchiveFormat::Xz, "xz", None);
    single_stream_round_trip(ArchiveFormat::Xz, "xz", Some(0));
}

#[test]
fn gzip_header_has_no_name_and_no_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    for format in [ArchiveFormat::Gz, ArchiveFormat::TarGz] {
        let entries = make_entries(dir.path(), &inputs[..1], SystemTime::now(), 0);
        let path = write(dir.path(), "out.gz", entries, format);
        let bytes = fs::read(path).unwrap();
        assert_eq!(
            &bytes[..3],
            &[0x1f, 0x8b, 8],
            "{format:?}: gzip magic, deflate"
        );
        assert_eq!(bytes[3], 0, "{format:?}: no FNAME, FCOMMENT or FEXTRA");
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "{format:?}: mtime 0");
    }
}

#[test]
fn output_is_deterministic() {
    for format in ArchiveFormat::ALL {
        let dir = tempfile::tempdir().unwrap();
        let all = inputs();
        let inputs = if format.is_single_stream() {
            &all[1..2]
        } else {
            &all[..]
        };
        let early = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let first = write(
            dir.path(),
            "first",
            make_entries(dir.path(), inputs, early, 0),
            format,
        );

        // Other files on disk with other mtimes, entries given in another order, mtimes past
        // `MAX_MTIME` moved further past it: the same bytes come out.
        let mut shifted: Vec<Entry> = make_entries(dir.path(), inputs, SystemTime::now(), 0);
        shifted.reverse();
        for e in &mut shifted {
            if e.mtime > MAX_MTIME {
                e.mtime += 12_345_678;
            }
        }
        let second = write(dir.path(), "second", shifted, format);
        assert!(
            fs::read(&first).unwrap() == fs::read(&second).unwrap(),
            "{format:?}: two writes of the same entries differ"
        );

        // Entries whose mtimes are all at or past `MAX_MTIME` give the same archive however
        // far past it they are.
        let late = |shift| {
            let mut es = make_entries(dir.path(), inputs, SystemTime::now(), 0);
            for e in &mut es {
                e.mtime = MAX_MTIME + shift;
            }
            es
        };
        let a = write(dir.path(), "late-a", late(0), format);
        let b = write(dir.path(), "late-b", late(999_999), format);
        assert!(
            fs::read(&a).unwrap() == fs::read(&b).unwrap(),
            "{format:?}: clamped mtimes differ"
        );
    }
}

#[test]
fn stale_bytes_in_the_output_file_are_dropped() {
    for format in [ArchiveFormat::Zip, ArchiveFormat::TarGz, ArchiveFormat::Zst] {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs();
        let inputs = &inputs[..1];
        let path = dir.path().join("out");
        fs::write(&path, vec![0xAB; 4 * 1024 * 1024]).unwrap();
        let out = File::options().write(true).open(&path).unwrap();
        let entries = make_entries(dir.path(), inputs, SystemTime::now(), 0);
        let written = write_archive(entries, out, format, None, MAX_MTIME).unwrap();
        assert_eq!(written.size, fs::metadata(&path).unwrap().len());

        let entries = make_entries(dir.path(), inputs, SystemTime::now(), 0);
        let fresh = write(dir.path(), "fresh", entries, format);
        assert!(fs::read(&path).unwrap() == fs::read(fresh).unwrap());
    }
}

#[test]
fn entry_files_are_read_from_their_start() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs();
    let mut entries = make_entries(dir.path(), &inputs[1..2], SystemTime::now(), 0);
    let mut skipped = [0u8; 1000];
    let kiln_artifacts::Source::File(file) = &mut entries[0].source else {
        panic!("an open file");
    };
    file.read_exact(&mut skipped).unwrap();
    let compressed = write(dir.path(), "image.raw.zst", entries, ArchiveFormat::Zst);
    run(dir.path(), "zstd", &["-d", compressed.to_str().unwrap()]);
    assert!(fs::read(dir.path().join("image.raw")).unwrap() == inputs[1].bytes);
}

fn sum(tool: &str, path: &Path) -> String {
    let out =
        String::from_utf8(run(path.parent().unwrap(), tool, &[path.to_str().unwrap()])).unwrap();
    out.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn digests_match_the_sum_tools() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty", vec![]),
        ("small", b"abc".to_vec()),
        // Past two chunks, not a multiple of anything.
        ("large", data(2 * 1024 * 1024 + 777, 11)),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, &bytes).unwrap();
        let all = HashAlgorithm::ALL;
        let digests = hash_reader(File::open(&path).unwrap(), &all).unwrap();
        assert_eq!(digests.len(), all.len());
        for (algorithm, digest) in all.iter().zip(&digests) {
            let tool = format!("{}sum", algorithm.name());
            assert_eq!(
                digest,
                &sum(&tool, &path),
                "{name}: {} differs from {tool}",
                algorithm.name()
            );
        }
        // Order follows the request, repeats included.
        let picked = [
            HashAlgorithm::Sha512,
            HashAlgorithm::Md5,
            HashAlgorithm::Sha512,
        ];
        let got = hash_reader(File::open(&path).unwrap(), &picked).unwrap();
        assert_eq!(
            got,
            vec![digests[5].clone(), digests[0].clone(), digests[5].clone()]
        );
    }
}

#[test]
fn read_errors_surface_from_hashing() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let err = hash_reader(Failing, &[HashAlgorithm::Sha256]).unwrap_err();
    assert_eq!(err.to_string(), "disk on fire");
}

fn invalid_input(result: io::Result<kiln_artifacts::Written>) -> String {
    let err = result.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    err.to_string()
}

#[test]
fn out_of_range_levels_are_invalid_input() {
    let cases = [
        (ArchiveFormat::TarGz, 0, "1 to 9"),
        (ArchiveFormat::TarGz, 10, "1 to 9"),
        (ArchiveFormat::Gz, -1, "1 to 9"),
        (ArchiveFormat::Zip, 0, "1 to 9"),
        (ArchiveFormat::Zip, 10, "1 to 9"),
        (ArchiveFormat::TarZst, 0, "1 to 22"),
        (ArchiveFormat::Zst, 23, "1 to 22"),
        (ArchiveFormat::TarXz, -1, "0 to 9"),
        (ArchiveFormat::Xz, 10, "0 to 9"),
    ];
    for (format, level, range) in cases {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs();
        let entries = make_entries(dir.path(), &inputs[..1], SystemTime::now(), 0);
        let out = File::create(dir.path().join("out")).unwrap();
        let message = invalid_input(write_archive(entries, out, format, Some(level), MAX_MTIME));
        assert!(
            message.contains(range) && message.contains(&level.to_string()),
            "{format:?} level {level}: {message}"
        );
    }
}

#[test]
fn single_stream_formats_need_exactly_one_entry() {
    for format in [ArchiveFormat::Gz, ArchiveFormat::Zst, ArchiveFormat::Xz] {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs();
        for count in [0, 2] {
            let entries = make_entries(dir.path(), &inputs[..count], SystemTime::now(), 0);
            let out = File::create(dir.path().join("out")).unwrap();
            let message = invalid_input(write_archive(entries, out, format, None, MAX_MTIME));
            assert!(message.contains("exactly one"), "{message}");
        }
    }
}

#[test]
fn empty_archives_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let tar = write(dir.path(), "empty.tar", vec![], ArchiveFormat::Tar);
    assert_eq!(fs::metadata(&tar).unwrap().len(), 1024);
    assert!(run(dir.path(), "tar", &["-tf", tar.to_str().unwrap()]).is_empty());
    let zip = write(dir.path(), "empty.zip", vec![], ArchiveFormat::Zip);
    assert_eq!(fs::metadata(&zip).unwrap().len(), 22);
}

#[test]
fn bad_and_duplicate_names_are_invalid_input() {
    for format in [ArchiveFormat::Tar, ArchiveFormat::Zip] {
        let dir = tempfile::tempdir().unwrap();
        let inputs = inputs();
        for bad in ["/etc/passwd", "../escape", "a//b", "dir/"] {
            let mut entries = make_entries(dir.path(), &inputs[..1], SystemTime::now(), 0);
            entries[0].name = bad.to_owned();
            let out = File::create(dir.path().join("out")).unwrap();
            invalid_input(write_archive(entries, out, format, None, MAX_MTIME));
        }
        let mut entries = make_entries(dir.path(), &inputs[..2], SystemTime::now(), 0);
        entries[1].name = entries[0].name.clone();
        let out = File::create(dir.path().join("out")).unwrap();
        let message = invalid_input(write_archive(entries, out, format, None, MAX_MTIME));
        assert!(message.contains("duplicate"), "{message}");
    }
}

/// A write error (here a full device) ends the archive with that error, for every format,
/// whichever thread meets it.
#[test]
fn write_errors_surface() {
    let dir = tempfile::tempdir().unwrap();
    for format in ArchiveFormat::ALL {
        let inputs = inputs();
        let mut entries = make_entries(dir.path(), &inputs, SystemTime::now(), 0);
        if format.is_single_stream() {
            entries.retain(|e| e.name == "disk/image.raw");
        }
        let full = File::options().write(true).open("/dev/full").unwrap();
        let err = write_archive(entries, full, format, None, MAX_MTIME).unwrap_err();
        assert!(
            err.to_string().contains("No space left on device"),
            "{}: expected ENOSPC, got {err}",
            format.name()
        );
    }
}

/// A file that holds fewer bytes than its size said (one that shrank while being read; a
/// sysfs file says 4096 and holds a few) ends the archive with an error naming it, for
/// every archive format, rather than with an archive whose entry is cut short. (The
/// single-stream formats have no header giving the size, and take what is there.)
#[test]
fn a_file_shorter_than_its_size_is_an_error() {
    const SHORT: &str = "/sys/devices/system/cpu/online";
    let meta = fs::metadata(SHORT).unwrap();
    let short = meta.len() - fs::read(SHORT).unwrap().len() as u64;
    assert!(meta.is_file() && short > 0);
    let dir = tempfile::tempdir().unwrap();
    for format in ArchiveFormat::ALL
        .into_iter()
        .filter(|f| !f.is_single_stream())
    {
        let entries = vec![Entry::file("online", File::open(SHORT).unwrap(), 0o644, 0)];
        let out = File::create(dir.path().join("out")).unwrap();
        let err = write_archive(entries, out, format, None, MAX_MTIME).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("\"online\" ended {short} bytes short")),
            "{}: {err}",
            format.name()
        );
    }
}

/// Regression: an archive of more entries than the process may open files opened every
/// source at once and failed with "Too many open files". Sources opened later are opened
/// one at a time, each closed after it is written.
#[test]
fn entries_opened_later_hold_one_file_open_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::write(&src, b"the same bytes under many names\n").unwrap();
    let open_fds = || fs::read_dir("/proc/self/fd").unwrap().count();
    let before = open_fds();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let entries: Vec<Entry> = (0..3000)
        .map(|i| {
            let (src, peak) = (src.clone(), peak.clone());
            Entry::opened_later(format!("n/{i:04}"), 0o644, 0, move || {
                let f = File::open(&src)?;
                peak.fetch_max(
                    fs::read_dir("/proc/self/fd").unwrap().count(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                Ok(f)
            })
        })
        .collect();
    let out = File::create(dir.path().join("a.tar")).unwrap();
    write_archive(entries, out, ArchiveFormat::Tar, None, MAX_MTIME).unwrap();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    // The archive's own file, its pipe threads' handles and the one source.
    assert!(
        peak <= before + 8,
        "{peak} descriptors open at once, {before} before"
    );
    let listing = String::from_utf8(run(dir.path(), "tar", &["-tf", "a.tar"])).unwrap();
    assert_eq!(listing.lines().count(), 3000);
}

/// What an archive may write is bounded: past the limit, writing stops with an error
/// that names it, whichever format and thread met it.
#[test]
fn archives_stop_at_their_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::write(&src, vec![7u8; 3 << 20]).unwrap();
    for format in ArchiveFormat::ALL {
        let count = if format.is_single_stream() { 1 } else { 8 };
        let entries: Vec<Entry> = (0..count)
            .map(|i| Entry::file(format!("e{i}"), File::open(&src).unwrap(), 0o644, 0))
            .collect();
        let out = File::create(dir.path().join("out")).unwrap();
        // Uncompressed and stored formats outgrow 1 MiB; compressed ones hold 24 MiB of
        // one byte in far less, so they get a smaller limit.
        let limit = if matches!(format, ArchiveFormat::Tar) {
            1 << 20
        } else {
            64
        };
        let err = kiln_artifacts::write_archive_reporting(
            entries,
            out,
            format,
            None,
            MAX_MTIME,
            limit,
            &|_| {},
        )
        .unwrap_err();
        assert_eq!(
            kiln_artifacts::too_large(&err),
            Some(limit),
            "{format:?}: {err}"
        );
    }
}
