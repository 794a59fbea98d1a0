//! `spindle::promise` against the public API, in both modes: a value
//! resolved from a plain thread reaches the awaiting task, a dropped
//! resolver is an error, and an aborted awaiter closes the resolver.

use std::time::Duration;

use spindle::promise::{ResolverDropped, promise};
use spindle::{spawn, yield_now};
use tests::both_modes;

#[test]
fn promise_resolved_from_a_plain_thread_reaches_the_task() {
    both_modes(|mode| async move {
        let (resolver, promise) = promise();
        let callback = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            resolver.resolve(format!("resolved in {mode:?}"));
        });
        let task = spawn(promise);
        assert_eq!(task.await.unwrap(), Ok(format!("resolved in {mode:?}")));
        callback.join().unwrap();
    });
}

#[test]
fn resolver_dropped_on_a_plain_thread_fails_the_promise() {
    both_modes(|mode| async move {
        let (resolver, promise) = promise::<u32>();
        std::thread::spawn(move || drop(resolver)).join().unwrap();
        let err = promise.await.unwrap_err();
        assert_eq!(err, ResolverDropped, "{mode:?}");
        assert!(err.to_string().contains("dropped without resolving"));
    });
}

#[test]
fn aborted_awaiter_closes_the_resolver() {
    both_modes(|mode| async move {
        let (resolver, promise) = promise::<u32>();
        let task = spawn(promise);
        yield_now().await;
        assert!(!resolver.is_closed(), "{mode:?}");
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(
            resolver.is_closed(),
            "{mode:?}: the promise was dropped with its task"
        );
        assert_eq!(resolver.try_resolve(1), Err(1));
    });
}

#[test]
fn many_promises_resolved_from_one_thread() {
    both_modes(|mode| async move {
        let (resolvers, tasks): (Vec<_>, Vec<_>) = (0..100u32)
            .map(|n| {
                let (resolver, promise) = promise();
                (resolver, spawn(async move { promise.await.unwrap() + n }))
            })
            .unzip();
        std::thread::spawn(move || {
            for resolver in resolvers {
                resolver.resolve(1000);
            }
        });
        for (n, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), 1000 + n as u32, "{mode:?}");
        }
    });
}
