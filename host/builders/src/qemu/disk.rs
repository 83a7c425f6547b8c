//! The VM's disk, through `qemu-img`: created empty, copied or layered on a base image,
//! grown, and converted into the final artifact.

use std::path::Path;

use kiln_core::Ui;

use super::{QemuBuilder, QemuError};

/// Runs `qemu-img` with `args`; the error carries its stderr.
pub(super) async fn qemu_img(args: &[&str]) -> Result<String, QemuError> {
    tracing::debug!(?args, "qemu-img");
    let out = tokio::process::Command::new("qemu-img")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| QemuError::QemuImgSpawn { source })?;
    if !out.status.success() {
        return Err(QemuError::QemuImgFailed {
            subcommand: args.first().copied().unwrap_or_default().to_owned(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `qemu-img convert` with `args` (after `convert`), showing its progress (`-p`)
/// as a bar of `total` bytes labelled `label`; the error carries its stderr.
async fn convert_showing_progress(
    args: &[&str],
    total: u64,
    ui: &dyn Ui,
    label: &str,
) -> Result<(), QemuError> {
    use tokio::io::AsyncReadExt as _;
    tracing::debug!(?args, "qemu-img convert -p");
    let mut child = tokio::process::Command::new("qemu-img")
        .arg("convert")
        .arg("-p")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| QemuError::QemuImgSpawn { source })?;
    let bar = ui.progress(label, Some(total));
    let (mut stdout, mut stderr) = (
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let read_errors = async {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    };
    let follow = async {
        let (mut buf, mut done) = (vec![0; 4096], 0u64);
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            for percent in percents(&String::from_utf8_lossy(&buf[..n])) {
                let now = (percent / 100.0 * total as f64) as u64;
                if now > done {
                    bar.advance(now - done);
                    done = now;
                }
            }
        }
    };
    let (errors, ()) = tokio::join!(read_errors, follow);
    let status = child
        .wait()
        .await
        .map_err(|source| QemuError::QemuImgSpawn { source })?;
    if !status.success() {
        return Err(QemuError::QemuImgFailed {
            subcommand: "convert".into(),
            status,
            stderr: errors.trim().to_owned(),
        });
    }
    Ok(())
}

/// The percentages in `qemu-img convert -p`'s output (`    (12.34/100%)`, each
/// ended by a carriage return).
fn percents(output: &str) -> impl Iterator<Item = f64> + '_ {
    output
        .split(['\r', '\n'])
        .filter_map(kiln_core::text::percent)
}

pub(super) fn text(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// `qemu-img info`: the image's format and virtual size in bytes.
pub(super) async fn info(path: &Path) -> Result<(String, u64), QemuError> {
    let out = qemu_img(&["info", "--output=json", text(path)]).await?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|source| QemuError::QemuImgInfo { source })?;
    let format = v["format"].as_str().unwrap_or("raw").to_owned();
    let size = v["virtual-size"].as_u64().unwrap_or(0);
    Ok((format, size))
}

/// Packer's default `disk_size`.
pub(super) const DEFAULT_SIZE: &str = "40960M";

/// An empty disk of `disk_size` for installing from an ISO.
pub(super) async fn create(b: &QemuBuilder, path: &Path) -> Result<(), QemuError> {
    create_sized(b, path, b.disk_size.as_deref().unwrap_or(DEFAULT_SIZE)).await
}

/// An empty disk of `size`, with `qemu_img_args.create`.
pub(super) async fn create_sized(
    b: &QemuBuilder,
    path: &Path,
    size: &str,
) -> Result<(), QemuError> {
    let mut args = vec!["create", "-f", &b.format];
    args.extend(b.qemu_img_args.create.iter().map(String::as_str));
    args.extend([text(path), size]);
    qemu_img(&args).await.map(|_| ())
}

/// The VM's disk from the base image `source`: a qcow2 overlay with the image as its
/// backing file (`use_backing_file`), or a converted copy. Grown to `disk_size` (default
/// 40960M, as Packer) unless `skip_resize_disk`; never shrunk.
pub(super) async fn from_image(
    b: &QemuBuilder,
    source: &Path,
    path: &Path,
    ui: &dyn Ui,
) -> Result<(), QemuError> {
    let (source_format, source_size) = info(source).await?;
    if b.use_backing_file {
        ui.say(&format!(
            "Creating a qcow2 overlay on {} (use_backing_file)...",
            source.display()
        ));
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-b",
            text(source),
            "-F",
            &source_format,
            text(path),
        ])
        .await?;
    } else {
        ui.say(&format!("Copying the disk image {}...", source.display()));
        qemu_img(&[
            "convert",
            "-f",
            &source_format,
            "-O",
            &b.format,
            text(source),
            text(path),
        ])
        .await?;
    }
    if !b.skip_resize_disk {
        let size = b.disk_size.as_deref().unwrap_or(DEFAULT_SIZE);
        let wanted = bytes(size).ok_or_else(|| QemuError::DiskSize {
            size: size.to_owned(),
        })?;
        if wanted > source_size {
            ui.say(&format!("Resizing the disk to {size}..."));
            let mut args = vec!["resize", "-f", &b.format];
            args.extend(b.qemu_img_args.resize.iter().map(String::as_str));
            args.extend([text(path), size]);
            qemu_img(&args).await?;
        } else if wanted < source_size {
            ui.say(&format!(
                "disk_size {size} is smaller than the image ({source_size} bytes); keeping the image's size"
            ));
        }
    }
    Ok(())
}

/// `40960M` in bytes.
fn bytes(size: &str) -> Option<u64> {
    let (n, unit) = size.split_at(size.len() - 1);
    let n: u64 = n.parse().ok()?;
    let shift = match unit {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// Whether the finished disk goes through `qemu-img convert`: qcow2 is compacted unless
/// `skip_compaction` (compression forces it), and never when it is an overlay; a disk
/// for another hypervisor is always converted to its format.
pub(super) fn wants_conversion(b: &QemuBuilder) -> bool {
    b.output_format.is_some()
        || b.format == "qcow2" && !b.use_backing_file && (!b.skip_compaction || b.disk_compression)
}

/// Rewrites the disk with `qemu-img convert` (dropping unused clusters, compressing with
/// `disk_compression`, into another hypervisor's format) into a temporary file beside
/// it, then renames it over the disk; a progress bar shows how far it has got.
pub(super) async fn convert_in_place(
    b: &QemuBuilder,
    path: &Path,
    ui: &dyn Ui,
) -> Result<(), QemuError> {
    let tmp = path.with_extension("converting");
    let format = b.output_format.as_deref().unwrap_or(&b.format);
    let (_, size) = info(path).await?;
    let mut args = vec!["-O", format];
    // Only qcow2 compresses through `-c` here (vmdk's streamOptimized is asked for
    // with qemu_img_args' convert = ["-o", "subformat=streamOptimized"]).
    if b.disk_compression && format == "qcow2" {
        args.push("-c");
    }
    args.extend(b.qemu_img_args.convert.iter().map(String::as_str));
    args.extend([text(path), text(&tmp)]);
    let label = format!("Converting {} to {format}", text(path));
    if let Err(e) = convert_showing_progress(&args, size, ui, &label).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|source| QemuError::Rename {
            from: tmp.clone(),
            to: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_from_qemu_imgs_carriage_returned_lines() {
        let out = "    (0.00/100%)\r    (12.50/100%)\r    (100.00/100%)\r\n";
        assert_eq!(percents(out).collect::<Vec<_>>(), vec![0.0, 12.5, 100.0]);
        assert_eq!(percents("nothing here\n").count(), 0);
    }

    #[test]
    fn sizes_in_bytes() {
        assert_eq!(bytes("40960M"), Some(40960 << 20));
        assert_eq!(bytes("2G"), Some(2 << 30));
        assert_eq!(bytes("512K"), Some(512 << 10));
        assert_eq!(bytes("x"), None);
    }
}
