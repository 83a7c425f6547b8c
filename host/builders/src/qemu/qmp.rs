//! A QEMU Machine Protocol client: JSON lines over the VM's control socket. Kiln types
//! boot commands, learns of the guest's power-off and stops the VM through it.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

use super::QemuError;

/// A connected QMP session.
pub struct Qmp {
    writer: OwnedWriteHalf,
    replies: mpsc::Receiver<Reply>,
    shutdown: watch::Receiver<Option<String>>,
}

/// QEMU's answer to a command.
enum Reply {
    /// `{"return": ...}`.
    Return(Value),
    /// `{"error": {"desc": ...}}`.
    Error {
        /// QEMU's description of the error.
        desc: String,
    },
}

impl Qmp {
    /// Connects to the socket QEMU listens on (`-qmp unix:PATH,server=on,wait=off`),
    /// waiting up to `timeout` for it to appear, and leaves capability negotiation.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QemuError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(s) => break s,
                Err(source) if tokio::time::Instant::now() >= deadline => {
                    return Err(QemuError::ControlSocket {
                        path: path.to_path_buf(),
                        source,
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let (read, writer) = stream.into_split();
        let (reply_tx, replies) = mpsc::channel(16);
        let (shutdown_tx, shutdown) = watch::channel(None);
        tokio::spawn(read_loop(BufReader::new(read), reply_tx, shutdown_tx));
        let mut qmp = Qmp {
            writer,
            replies,
            shutdown,
        };
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs `command` and returns its `return` value, or QEMU's error description.
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QemuError> {
        let mut request = json!({ "execute": command });
        if let Some(args) = arguments {
            request["arguments"] = args;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(|source| QemuError::QmpSend {
                command: command.to_owned(),
                source,
            })?;
        match self.replies.recv().await {
            Some(Reply::Return(v)) => Ok(v),
            Some(Reply::Error { desc }) => Err(QemuError::QmpCommand {
                command: command.to_owned(),
                desc,
            }),
            None => Err(QemuError::QmpClosed {
                command: command.to_owned(),
            }),
        }
    }

    /// Presses (`down`) or releases the key with QEMU key code `qcode`.
    pub async fn key(&mut self, qcode: &str, down: bool) -> Result<(), QemuError> {
        self.execute(
            "input-send-event",
            Some(json!({ "events": [
                { "type": "key", "data": { "down": down, "key": { "type": "qcode", "data": qcode } } }
            ] })),
        )
        .await
        .map(|_| ())
    }

    /// Watches for QEMU's `SHUTDOWN` event: `Some(reason)` once the guest powered off or
    /// QEMU was told to quit.
    pub fn shutdown_events(&self) -> watch::Receiver<Option<String>> {
        self.shutdown.clone()
    }
}

async fn read_loop(
    mut read: BufReader<tokio::net::unix::OwnedReadHalf>,
    replies: mpsc::Sender<Reply>,
    shutdown: watch::Sender<Option<String>>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match read.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            tracing::debug!(line = line.trim_end(), "QMP: unparsable line");
            continue;
        };
        if let Some(event) = message.get("event").and_then(Value::as_str) {
            tracing::debug!(event, data = %message["data"], "QMP event");
            if event == "SHUTDOWN" {
                let reason = message["data"]["reason"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_owned();
                shutdown.send_replace(Some(reason));
            }
        } else if let Some(ret) = message.get("return") {
            let _ = replies.send(Reply::Return(ret.clone())).await;
        } else if let Some(err) = message.get("error") {
            let desc = err["desc"].as_str().unwrap_or("unknown error").to_owned();
            let _ = replies.send(Reply::Error { desc }).await;
        }
        // The greeting ({"QMP": ...}) needs no answer.
    }
}
