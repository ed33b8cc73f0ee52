//! Long computations that hand control back between steps.
//!
//! A summary is an `async` function that awaits [`pause`] after every decoder step. Natively it
//! runs to the end at once ([`block_on`]); in the browser the worker polls it one step at a time
//! ([`Steps`]) and returns to its event loop in between, so a request to stop (or any other
//! message) is seen within one decoder step, and dropping the computation cancels it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A point where a stepwise computation may be suspended: pending on its first poll, ready on
/// the next.
#[derive(Debug, Default)]
pub struct Pause {
    paused: bool,
}

impl Future for Pause {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.paused {
            return Poll::Ready(());
        }
        self.paused = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Suspends a stepwise computation once (see the module docs).
pub fn pause() -> Pause {
    Pause::default()
}

/// Runs `future` to completion on this thread. Only for futures that wait on nothing but
/// [`pause`]: anything else would spin.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A computation run one step at a time: each [`Steps::step`] runs it to its next [`pause`].
pub struct Steps<'a, T> {
    future: Option<Pin<Box<dyn Future<Output = T> + 'a>>>,
}

impl<'a, T> Steps<'a, T> {
    /// Wraps `future`; nothing runs until the first [`Steps::step`].
    pub fn new(future: impl Future<Output = T> + 'a) -> Self {
        Self {
            future: Some(Box::pin(future)),
        }
    }

    /// Runs to the next pause: `None` while unfinished, then the output (once; `None` again
    /// after that).
    pub fn step(&mut self) -> Option<T> {
        let future = self.future.as_mut()?;
        let mut cx = Context::from_waker(Waker::noop());
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => {
                self.future = None;
                Some(out)
            }
            Poll::Pending => None,
        }
    }

    /// Whether the computation has finished (or was never there).
    pub fn is_done(&self) -> bool {
        self.future.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn count_to(n: usize, seen: &std::cell::RefCell<Vec<usize>>) -> usize {
        for i in 0..n {
            seen.borrow_mut().push(i);
            pause().await;
        }
        n
    }

    #[test]
    fn block_on_runs_through_the_pauses() {
        let seen = std::cell::RefCell::new(Vec::new());
        assert_eq!(block_on(count_to(3, &seen)), 3);
        assert_eq!(*seen.borrow(), vec![0, 1, 2]);
    }

    #[test]
    fn steps_stop_at_every_pause_and_dropping_cancels() {
        let seen = std::cell::RefCell::new(Vec::new());
        let mut steps = Steps::new(count_to(3, &seen));
        assert_eq!(steps.step(), None);
        assert_eq!(*seen.borrow(), vec![0]);
        assert_eq!(steps.step(), None);
        assert_eq!(steps.step(), None);
        assert_eq!(steps.step(), Some(3));
        assert!(steps.is_done());
        assert_eq!(steps.step(), None);

        let seen = std::cell::RefCell::new(Vec::new());
        let mut steps = Steps::new(count_to(100, &seen));
        steps.step();
        steps.step();
        drop(steps);
        assert_eq!(seen.borrow().len(), 2);
    }
}
