//! The objects tspd serves: the root (ObjectManager and the phone list) and one
//! object per phone. Every call that reaches the host runs off the bus's
//! executor, so a slow driver holds up only its own caller.

use std::collections::HashMap;
use std::sync::Arc;

use tsp_core::{
    ButtonInfo, HookSwitchDevice, HookSwitchDevs, HookSwitchMode, LampModes, PhoneCaps, PhoneError,
    PhoneStatus,
};
use tsp_host::{Host, PhoneHandle};
use tspd::{ACCESS_DENIED, LIMITS_EXCEEDED, error_name};

const LIMITS_TEXT: &str = "tspd is answering as many calls as it will at once; try again shortly";
use zbus::message::{Header, Message};
use zbus::names::ErrorName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::pool::{self, Refused, Urgency};
use crate::service::{Fault, Service};

impl zbus::DBusError for Fault {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        let message = match self {
            Fault::Phone(error) => error.to_string(),
            Fault::AccessDenied(why) => why.clone(),
            Fault::LimitsExceeded => LIMITS_TEXT.to_owned(),
        };
        Message::error(call, self.name())?.build(&(message,))
    }

    fn name(&self) -> ErrorName<'_> {
        let name = match self {
            Fault::Phone(error) => error_name(*error),
            Fault::AccessDenied(_) => ACCESS_DENIED.to_owned(),
            Fault::LimitsExceeded => LIMITS_EXCEEDED.to_owned(),
        };
        ErrorName::try_from(name).unwrap_or_else(|_| {
            ErrorName::from_static_str_unchecked("org.freedesktop.DBus.Error.Failed")
        })
    }

    /// The `PHONEERR_*` text is made in `create_reply`; only the access error
    /// keeps its words here.
    fn description(&self) -> Option<&str> {
        match self {
            Fault::Phone(_) => None,
            Fault::AccessDenied(why) => Some(why),
            Fault::LimitsExceeded => Some(LIMITS_TEXT),
        }
    }
}

impl From<zbus::Error> for Fault {
    fn from(error: zbus::Error) -> Self {
        tracing::warn!(%error, "a bus error inside a method");
        Fault::Phone(PhoneError::OperationFailed)
    }
}

type Dict = HashMap<String, OwnedValue>;

/// Runs `work` on a pool thread and awaits it: host calls block. A panic there
/// (a bug) fails this call with `OPERATIONFAILED`; the daemon goes on. When
/// every thread is busy the call is answered `LimitsExceeded` at once.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Fault> + Send + 'static,
) -> Result<T, Fault> {
    on_pool(work, Urgency::Refusable).await
}

async fn on_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Fault> + Send + 'static,
    urgency: Urgency,
) -> Result<T, Fault> {
    let (sender, receiver) = async_channel::bounded(1);
    let job = Box::new(move || {
        let _ = sender.try_send(work());
    });
    match pool::submit(job, urgency) {
        Ok(()) => {}
        Err(Refused::Full) => return Err(Fault::LimitsExceeded),
        Err(Refused::NoThread) => return Err(Fault::Phone(PhoneError::NoMem)),
    }
    receiver.recv().await.unwrap_or_else(|_| {
        tracing::error!("a call panicked inside the host");
        Err(Fault::Phone(PhoneError::OperationFailed))
    })
}

fn sender_of(header: &Header<'_>) -> String {
    header.sender().map(|s| s.to_string()).unwrap_or_default()
}

fn value<T: Into<Value<'static>>>(v: T) -> OwnedValue {
    // Plain values never carry file descriptors, so this cannot fail.
    OwnedValue::try_from(v.into()).unwrap_or_else(|_| OwnedValue::from(0u32))
}

/// PHONECAPS as a dictionary.
fn caps_dict(caps: &PhoneCaps) -> Dict {
    let hookswitch = |h: &Option<tsp_core::HookSwitchCaps>| {
        h.map_or((0u32, 0u32, 0u32), |h| {
            (h.modes.bits(), h.settable.bits(), h.monitored.bits())
        })
    };
    let buttons: Vec<(u32, u32, u32)> = caps
        .buttons
        .iter()
        .map(|b| (b.mode.bits(), b.function.code(), b.lamp_modes.bits()))
        .collect();
    let display = caps.display.map_or((0u32, 0u32), |d| (d.rows, d.columns));
    HashMap::from([
        ("Name".to_owned(), value(caps.name.clone())),
        ("ProviderInfo".to_owned(), value(caps.provider_info.clone())),
        ("PhoneInfo".to_owned(), value(caps.phone_info.clone())),
        ("PermanentId".to_owned(), value(caps.permanent_id)),
        ("Features".to_owned(), value(caps.features.bits())),
        ("PhoneStates".to_owned(), value(caps.phone_states.bits())),
        ("Handset".to_owned(), value(hookswitch(&caps.handset))),
        ("Speaker".to_owned(), value(hookswitch(&caps.speaker))),
        ("Headset".to_owned(), value(hookswitch(&caps.headset))),
        ("Display".to_owned(), value(display)),
        ("RingModes".to_owned(), value(caps.ring_modes)),
        ("Buttons".to_owned(), value(buttons)),
        ("SetData".to_owned(), value(caps.set_data.clone())),
        ("GetData".to_owned(), value(caps.get_data.clone())),
    ])
}

fn status_dict(status: &PhoneStatus) -> Dict {
    let hookswitch = |h: &Option<tsp_core::HookSwitchStatus>| {
        h.map_or((0u32, 0u32, 0u32), |h| (h.mode.code(), h.volume, h.gain))
    };
    let lamps: Vec<u32> = status.lamp_modes.iter().map(|m| m.bits()).collect();
    HashMap::from([
        ("Flags".to_owned(), value(status.flags.bits())),
        ("RingMode".to_owned(), value(status.ring_mode)),
        ("RingVolume".to_owned(), value(status.ring_volume)),
        ("Handset".to_owned(), value(hookswitch(&status.handset))),
        ("Speaker".to_owned(), value(hookswitch(&status.speaker))),
        ("Headset".to_owned(), value(hookswitch(&status.headset))),
        (
            "Display".to_owned(),
            value(status.display.clone().unwrap_or_default()),
        ),
        ("LampModes".to_owned(), value(lamps)),
        ("Features".to_owned(), value(status.features.bits())),
    ])
}

fn button_dict(info: &ButtonInfo) -> Dict {
    HashMap::from([
        ("Mode".to_owned(), value(info.mode.bits())),
        ("Function".to_owned(), value(info.function.code())),
        ("Text".to_owned(), value(info.text.clone())),
        ("State".to_owned(), value(info.state.bits())),
    ])
}

/// A PHONEHOOKSWITCHDEV_ from a client, refused as the host would refuse it.
fn hookswitch_device(code: u32) -> Result<HookSwitchDevice, PhoneError> {
    HookSwitchDevice::from_code(code).ok_or(PhoneError::InvalHookSwitchDev)
}

/// A phone object.
pub(crate) struct PhoneObject {
    pub(crate) service: Arc<Service>,
    pub(crate) device_id: u32,
}

impl PhoneObject {
    /// Starts an asynchronous TSPI function for the caller and awaits its
    /// completion: the reply is the completion.
    async fn request(
        &self,
        header: &Header<'_>,
        start: impl FnOnce(&Host, u32, PhoneHandle) -> Result<u32, PhoneError> + Send + 'static,
    ) -> Result<(), Fault> {
        let (service, id, caller) = (self.service.clone(), self.device_id, sender_of(header));
        let _call = self.service.call(&caller)?;
        let (handle, completion) = {
            let (service, caller) = (service.clone(), caller.clone());
            off_thread(move || service.request(id, &caller, start)).await?
        };
        let result = completion.recv().await;
        // Most calls end here: the phone stays open. Only the last call on a
        // phone opened for calls alone closes it, which is a host call.
        if !service.release_at_once(id, &caller, handle) {
            let released = move || {
                service.release(id, &caller, handle);
                Ok(())
            };
            let _ = on_pool(released, Urgency::Must).await;
        }
        match result {
            Ok(completed) => Ok(completed?),
            // The host completes every request; a lost sender means it shut down.
            Err(_) => Err(Fault::Phone(PhoneError::OperationFailed)),
        }
    }

    /// Runs a synchronous TSPI function for the caller.
    async fn query<T: Send + 'static>(
        &self,
        header: &Header<'_>,
        query: impl FnOnce(&Host, PhoneHandle) -> Result<T, PhoneError> + Send + 'static,
    ) -> Result<T, Fault> {
        let (service, id, caller) = (self.service.clone(), self.device_id, sender_of(header));
        let _call = self.service.call(&caller)?;
        off_thread(move || service.query(id, &caller, query)).await
    }
}

#[zbus::interface(name = "org.tsprs.Telephony1.Phone")]
impl PhoneObject {
    /// The TAPI device id.
    #[zbus(property)]
    fn device_id(&self) -> u32 {
        self.device_id
    }

    /// The phone's name.
    #[zbus(property)]
    fn name(&self) -> String {
        self.service
            .device(self.device_id)
            .map(|d| d.caps.name)
            .unwrap_or_default()
    }

    /// The driver that serves it.
    #[zbus(property)]
    fn driver(&self) -> String {
        self.service
            .device(self.device_id)
            .map(|d| d.driver)
            .unwrap_or_default()
    }

    /// The permanent phone id.
    #[zbus(property)]
    fn permanent_id(&self) -> u32 {
        self.service
            .device(self.device_id)
            .map(|d| d.caps.permanent_id)
            .unwrap_or_default()
    }

    /// False while the device is unplugged (PropertiesChanged follows).
    #[zbus(property)]
    fn connected(&self) -> bool {
        self.service.connected(self.device_id)
    }

    /// The unique bus name of the client that has the phone open, or ""
    /// (PropertiesChanged follows Open, Close and a client leaving).
    #[zbus(property)]
    fn owner(&self) -> String {
        self.service.owner(self.device_id).unwrap_or_default()
    }

    /// TSPI_phoneGetDevCaps: PHONECAPS as a dictionary.
    async fn caps(&self) -> Result<Dict, Fault> {
        let device = self.service.device(self.device_id)?;
        Ok(caps_dict(&device.caps))
    }

    /// TSPI_phoneOpen: the phone becomes the caller's.
    async fn open(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), Fault> {
        let (service, id, caller) = (self.service.clone(), self.device_id, sender_of(&header));
        let _call = self.service.call(&caller)?;
        off_thread(move || service.open(id, &caller)).await?;
        self.owner_changed(&emitter).await?;
        Ok(())
    }

    /// TSPI_phoneClose: outstanding requests complete first.
    async fn close(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), Fault> {
        let (service, id, caller) = (self.service.clone(), self.device_id, sender_of(&header));
        let _call = self.service.call(&caller)?;
        off_thread(move || service.close(id, &caller)).await?;
        self.owner_changed(&emitter).await?;
        Ok(())
    }

    /// TSPI_phoneGetStatus: PHONESTATUS as a dictionary.
    async fn status(&self, #[zbus(header)] header: Header<'_>) -> Result<Dict, Fault> {
        let status = self.query(&header, |host, h| host.status(h)).await?;
        Ok(status_dict(&status))
    }

    /// TSPI_phoneSetData; replies when the request completes.
    async fn set_data(
        &self,
        #[zbus(header)] header: Header<'_>,
        data_id: u32,
        data: Vec<u8>,
    ) -> Result<(), Fault> {
        self.request(&header, move |host, r, h| {
            host.set_data(r, h, data_id, &data)
        })
        .await
    }

    /// TSPI_phoneGetData: `size` bytes of data area `data_id`.
    async fn get_data(
        &self,
        #[zbus(header)] header: Header<'_>,
        data_id: u32,
        size: u32,
    ) -> Result<Vec<u8>, Fault> {
        // The client's size is untrusted: no more than the area is allocated.
        let area = self.service.get_data_area(self.device_id, data_id);
        let size = (size as usize).min(area.unwrap_or(0)) as u32;
        self.query(&header, move |host, h| host.get_data(h, data_id, size))
            .await
    }

    /// TSPI_phoneSetDisplay.
    async fn set_display(
        &self,
        #[zbus(header)] header: Header<'_>,
        row: u32,
        column: u32,
        text: String,
    ) -> Result<(), Fault> {
        self.request(&header, move |host, r, h| {
            host.set_display(r, h, row, column, &text)
        })
        .await
    }

    /// TSPI_phoneGetDisplay.
    async fn get_display(&self, #[zbus(header)] header: Header<'_>) -> Result<String, Fault> {
        self.query(&header, |host, h| host.get_display(h)).await
    }

    /// TSPI_phoneSetHookSwitch: PHONEHOOKSWITCHDEV_ flags and one mode.
    async fn set_hook_switch(
        &self,
        #[zbus(header)] header: Header<'_>,
        devices: u32,
        mode: u32,
    ) -> Result<(), Fault> {
        self.request(&header, move |host, r, h| {
            // In the host's order: the devices are checked first, none is no device.
            let devices = HookSwitchDevs::from_bits(devices)
                .filter(|d| !d.is_empty())
                .ok_or(PhoneError::InvalHookSwitchDev)?;
            let mode = HookSwitchMode::from_code(mode).ok_or(PhoneError::InvalHookSwitchMode)?;
            host.set_hookswitch(r, h, devices, mode)
        })
        .await
    }

    /// TSPI_phoneGetHookSwitch: the devices off hook.
    async fn get_hook_switch(&self, #[zbus(header)] header: Header<'_>) -> Result<u32, Fault> {
        self.query(&header, |host, h| host.get_hookswitch(h).map(|d| d.bits()))
            .await
    }

    /// TSPI_phoneSetRing.
    async fn set_ring(
        &self,
        #[zbus(header)] header: Header<'_>,
        mode: u32,
        volume: u32,
    ) -> Result<(), Fault> {
        self.request(&header, move |host, r, h| host.set_ring(r, h, mode, volume))
            .await
    }

    /// TSPI_phoneGetRing: mode and volume.
    async fn get_ring(&self, #[zbus(header)] header: Header<'_>) -> Result<(u32, u32), Fault> {
        self.query(&header, |host, h| host.get_ring(h)).await
    }

    /// TSPI_phoneSetLamp.
    async fn set_lamp(
        &self,
        #[zbus(header)] header: Header<'_>,
        id: u32,
        mode: u32,
    ) -> Result<(), Fault> {
        // The host refuses a mode the lamp does not have (INVALLAMPMODE).
        let mode = LampModes::from_bits_retain(mode);
        self.request(&header, move |host, r, h| host.set_lamp(r, h, id, mode))
            .await
    }

    /// TSPI_phoneGetLamp.
    async fn get_lamp(&self, #[zbus(header)] header: Header<'_>, id: u32) -> Result<u32, Fault> {
        self.query(&header, move |host, h| {
            host.get_lamp(h, id).map(|m| m.bits())
        })
        .await
    }

    /// TSPI_phoneSetVolume: a PHONEHOOKSWITCHDEV_ and 0–0xFFFF.
    async fn set_volume(
        &self,
        #[zbus(header)] header: Header<'_>,
        device: u32,
        volume: u32,
    ) -> Result<(), Fault> {
        self.request(&header, move |host, r, h| {
            host.set_volume(r, h, hookswitch_device(device)?, volume)
        })
        .await
    }

    /// TSPI_phoneGetVolume.
    async fn get_volume(
        &self,
        #[zbus(header)] header: Header<'_>,
        device: u32,
    ) -> Result<u32, Fault> {
        self.query(&header, move |host, h| {
            host.get_volume(h, hookswitch_device(device)?)
        })
        .await
    }

    /// TSPI_phoneSetGain: a PHONEHOOKSWITCHDEV_ and 0–0xFFFF.
    async fn set_gain(
        &self,
        #[zbus(header)] header: Header<'_>,
        device: u32,
        gain: u32,
    ) -> Result<(), Fault> {
        self.request(&header, move |host, r, h| {
            host.set_gain(r, h, hookswitch_device(device)?, gain)
        })
        .await
    }

    /// TSPI_phoneGetGain.
    async fn get_gain(
        &self,
        #[zbus(header)] header: Header<'_>,
        device: u32,
    ) -> Result<u32, Fault> {
        self.query(&header, move |host, h| {
            host.get_gain(h, hookswitch_device(device)?)
        })
        .await
    }

    /// TSPI_phoneGetButtonInfo: PHONEBUTTONINFO as a dictionary.
    async fn get_button_info(
        &self,
        #[zbus(header)] header: Header<'_>,
        id: u32,
    ) -> Result<Dict, Fault> {
        let info = self
            .query(&header, move |host, h| host.get_button_info(h, id))
            .await?;
        Ok(button_dict(&info))
    }

    /// TSPI_phoneSetButtonInfo: relabel or reassign button `id` (a
    /// PHONEBUTTONMODE_, a PHONEBUTTONFUNCTION_, its text).
    async fn set_button_info(
        &self,
        #[zbus(header)] header: Header<'_>,
        id: u32,
        mode: u32,
        function: u32,
        text: String,
    ) -> Result<(), Fault> {
        let function = tsp_core::ButtonFunction::from_code(function)
            .ok_or(Fault::Phone(PhoneError::InvalParam))?;
        let info = ButtonInfo {
            mode: tsp_core::ButtonModes::from_bits_retain(mode),
            function,
            text,
            dev_specific: Vec::new(),
            state: tsp_core::ButtonStates::empty(),
        };
        self.request(&header, move |host, r, h| {
            host.set_button_info(r, h, id, &info)
        })
        .await
    }

    /// TSPI_phoneDevSpecific: the driver's own commands.
    async fn dev_specific(
        &self,
        #[zbus(header)] header: Header<'_>,
        params: Vec<u8>,
    ) -> Result<(), Fault> {
        self.request(&header, move |host, r, h| host.dev_specific(r, h, &params))
            .await
    }

    /// PHONE_BUTTON: button id, PHONEBUTTONMODE_, PHONEBUTTONSTATE_.
    #[zbus(signal)]
    pub(crate) async fn button(
        emitter: &SignalEmitter<'_>,
        id: u32,
        mode: u32,
        state: u32,
    ) -> zbus::Result<()>;

    /// PHONE_STATE: the PHONESTATE_ that changed and its detail.
    #[zbus(signal)]
    pub(crate) async fn state(
        emitter: &SignalEmitter<'_>,
        state: u32,
        detail: u32,
    ) -> zbus::Result<()>;

    /// PHONE_CLOSE: the provider closed the phone (its device is gone).
    #[zbus(signal)]
    pub(crate) async fn closed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    /// PHONE_DEVSPECIFIC: the driver's own event.
    #[zbus(signal)]
    pub(crate) async fn device_event(
        emitter: &SignalEmitter<'_>,
        p1: u32,
        p2: u32,
        p3: u32,
    ) -> zbus::Result<()>;
}

/// The root object's own interface.
pub(crate) struct Manager {
    pub(crate) service: Arc<Service>,
}

#[zbus::interface(name = "org.tsprs.Telephony1.Manager")]
impl Manager {
    /// Every phone: its object, device id and name.
    fn list_phones(&self) -> Vec<(OwnedObjectPath, u32, String)> {
        self.service
            .phones()
            .into_iter()
            .filter_map(|(id, device)| {
                let path = OwnedObjectPath::try_from(tspd::phone_path(id)).ok()?;
                Some((path, id, device.caps.name))
            })
            .collect()
    }

    /// PHONE_CREATE: a phone arrived.
    #[zbus(signal)]
    pub(crate) async fn phone_created(
        emitter: &SignalEmitter<'_>,
        path: OwnedObjectPath,
        device_id: u32,
    ) -> zbus::Result<()>;

    /// PHONE_REMOVE: a phone is gone for good.
    #[zbus(signal)]
    pub(crate) async fn phone_removed(
        emitter: &SignalEmitter<'_>,
        path: OwnedObjectPath,
        device_id: u32,
    ) -> zbus::Result<()>;
}
