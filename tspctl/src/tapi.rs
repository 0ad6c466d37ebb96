//! tspctl plays TAPI's part: the host's callbacks, as closures, feed one
//! channel that the command reading them owns.

use std::sync::mpsc::{Receiver, channel};

use tsp_core::{Message, PhoneError};
use tsp_host::HostBuilder;

/// What the host told TAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callback {
    Completion {
        request_id: u32,
        result: Result<(), PhoneError>,
    },
    Event(Message),
}

/// `builder` with both callbacks sending to the returned channel.
pub(crate) fn listened(builder: HostBuilder) -> (HostBuilder, Receiver<Callback>) {
    let (completions, received) = channel();
    let events = completions.clone();
    let builder = builder
        .on_completion(move |request_id, result| {
            let _ = completions.send(Callback::Completion { request_id, result });
        })
        .on_event(move |_, message| {
            let _ = events.send(Callback::Event(message));
        });
    (builder, received)
}
