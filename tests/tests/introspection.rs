//! Slow-poll reports (asyncio's debug mode) and task introspection, in both
//! modes.
//!
//! The reports go through `tracing`; this binary installs one global
//! subscriber that writes into a buffer the tests read. Each test looks for
//! the name of its own task, so tests running side by side do not mix up.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use spindle::Builder;
use spindle::task::{self, TaskState};
use tests::MODES;

/// Everything the global subscriber has written.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lines_naming(name: &str) -> Vec<String> {
    let buf = captured().lock().unwrap();
    String::from_utf8_lossy(&buf)
        .lines()
        .filter(|l| l.contains(name))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_slow_poll_is_reported_while_it_runs_and_when_it_returns_naming_the_task() {
    captured();
    for mode in MODES {
        let name = format!("sleepy-{mode:?}");
        let rt = Builder::new(mode)
            .worker_threads(2)
            .slow_poll_threshold(Duration::from_millis(50))
            .build()
            .unwrap();
        rt.block_on(async {
            task::Builder::new()
                .name(name.clone())
                .spawn(async { std::thread::sleep(Duration::from_millis(400)) })
                .await
                .unwrap();
        });
        // The report on return comes from the worker after the poll: joining
        // the workers makes sure it was written.
        drop(rt);
        let lines = lines_naming(&name);
        assert!(
            lines.iter().any(|l| l.contains("still running")),
            "{mode:?}: no report while running: {lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("took")),
            "{mode:?}: no report on return: {lines:#?}"
        );
        assert!(
            lines
                .iter()
                .all(|l| l.contains("WARN") && l.contains("introspection.rs")),
            "{lines:#?}"
        );
    }
}

#[test]
fn fast_polls_are_not_reported() {
    captured();
    for mode in MODES {
        let name = format!("quick-{mode:?}");
        let rt = Builder::new(mode)
            .slow_poll_threshold(Duration::from_secs(1))
            .build()
            .unwrap();
        rt.block_on(async {
            let n = name.clone();
            task::Builder::new()
                .name(n)
                .spawn(async {
                    for _ in 0..100 {
                        spindle::yield_now().await;
                    }
                })
                .await
                .unwrap();
        });
        assert!(lines_naming(&name).is_empty(), "{mode:?}");
    }
}

#[test]
fn all_tasks_reports_a_named_task_blocked_in_its_poll() {
    for mode in MODES {
        let name = format!("blocker-{mode:?}");
        // Single-thread mode has a monitor only when slow polls are reported.
        let rt = Builder::new(mode)
            .worker_threads(2)
            .slow_poll_threshold(Duration::from_millis(20))
            .build()
            .unwrap();
        // Another thread watches: in single-thread mode the blocked task
        // holds the only thread that runs tasks.
        let handle = rt.handle().clone();
        let watched = name.clone();
        let observer = std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(3) {
                let found = handle
                    .all_tasks()
                    .into_iter()
                    .find(|t| t.name.as_deref() == Some(watched.as_str()));
                if let Some(info) = found.filter(|t| t.state == TaskState::BlockedInPoll) {
                    return Some(info);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            None
        });
        rt.block_on(async {
            task::Builder::new()
                .name(name.clone())
                .spawn(async { std::thread::sleep(Duration::from_millis(600)) })
                .await
        })
        .unwrap();
        let info = observer
            .join()
            .unwrap()
            .unwrap_or_else(|| panic!("{mode:?}: never reported blocked-in-poll"));
        assert!(info.polls >= 1, "{info:?}");
        assert!(format!("{info:?}").contains(&name));
    }
}

#[test]
fn all_tasks_counts_polls_and_times_them_when_slow_polls_are_reported() {
    for mode in MODES {
        let rt = Builder::new(mode)
            .slow_poll_threshold(Duration::from_secs(10))
            .build()
            .unwrap();
        rt.block_on(async {
            let gate = Arc::new(spindle::sync::Event::new());
            let g = gate.clone();
            let h = task::Builder::new().name("counter").spawn(async move {
                for _ in 0..5 {
                    spindle::yield_now().await;
                }
                g.wait().await;
            });
            spindle::time::sleep(Duration::from_millis(30)).await;
            let info = task::all_tasks()
                .into_iter()
                .find(|t| t.id == h.id())
                .expect("listed");
            assert_eq!(info.state, TaskState::Idle, "{mode:?}");
            assert!(info.polls >= 6, "{mode:?}: {info:?}");
            assert!(
                info.busy.is_some() && info.longest_poll.is_some(),
                "{mode:?}: {info:?}"
            );
            assert!(info.age >= Duration::from_millis(10), "{mode:?}: {info:?}");
            gate.set();
            h.await.unwrap();
        });
    }
}
