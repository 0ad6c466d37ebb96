//! Typed names for the TSPI phone constants: messages, phone states, hookswitch
//! devices and modes, buttons, lamps, string formats and features. Every value comes
//! from `windows-sys`; nothing is typed in by hand.

use bitflags::bitflags;

use crate::sys;

/// Defines a scalar enum whose discriminants are Win32 constants.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = sys::$code as u32, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The `DWORD` TAPI uses.
            pub const fn code(self) -> u32 {
                self as u32
            }

            /// The value for a `DWORD`, or `None` if it names none.
            pub const fn from_code(code: u32) -> Option<Self> {
                $( if code == sys::$code as u32 { return Some(Self::$variant); } )*
                None
            }

            /// The C name, e.g. `PHONE_BUTTON`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => stringify!($code), )*
                }
            }
        }
    };
}

code_enum! {
    /// A `dwMsg` the provider sends through `PHONEEVENT` (reference §5.6).
    pub enum PhoneMessage {
        /// A button changed state: param1 id, param2 PHONEBUTTONMODE_, param3 PHONEBUTTONSTATE_.
        Button = PHONE_BUTTON,
        /// The provider closed the phone on its own (forced close).
        Close = PHONE_CLOSE,
        /// Vendor-defined; passed to applications unmodified.
        DevSpecific = PHONE_DEVSPECIFIC,
        /// TAPI to application only: a provider never sends it (it uses `ASYNC_COMPLETION`).
        Reply = PHONE_REPLY,
        /// The phone's state changed: param1 PHONESTATE_ bits.
        State = PHONE_STATE,
        /// A new device arrived: param1 `hProvider`, param2 the temporary id.
        Create = PHONE_CREATE,
        /// A device went away for good: param1 its device id.
        Remove = PHONE_REMOVE,
    }
}

code_enum! {
    /// The format of strings in a structure (`dwStringFormat`).
    pub enum StringFormat {
        /// 8-bit ASCII.
        Ascii = STRINGFORMAT_ASCII,
        /// Double-byte character set.
        Dbcs = STRINGFORMAT_DBCS,
        /// UTF-16, what TSPI 2.x providers use.
        Unicode = STRINGFORMAT_UNICODE,
        /// Raw bytes.
        Binary = STRINGFORMAT_BINARY,
    }
}

code_enum! {
    /// One hookswitch device, as Get/SetVolume and Get/SetGain name it.
    pub enum HookSwitchDevice {
        /// The handset.
        Handset = PHONEHOOKSWITCHDEV_HANDSET,
        /// The speakerphone.
        Speaker = PHONEHOOKSWITCHDEV_SPEAKER,
        /// The headset.
        Headset = PHONEHOOKSWITCHDEV_HEADSET,
    }
}

code_enum! {
    /// One hookswitch mode, as SetHookSwitch takes it and PHONESTATUS reports it.
    pub enum HookSwitchMode {
        /// Microphone and speaker both off.
        OnHook = PHONEHOOKSWITCHMODE_ONHOOK,
        /// Microphone on, speaker muted.
        Mic = PHONEHOOKSWITCHMODE_MIC,
        /// Speaker on, microphone muted.
        Speaker = PHONEHOOKSWITCHMODE_SPEAKER,
        /// Microphone and speaker both on.
        MicSpeaker = PHONEHOOKSWITCHMODE_MICSPEAKER,
        /// The mode is not known.
        Unknown = PHONEHOOKSWITCHMODE_UNKNOWN,
    }
}

impl HookSwitchMode {
    /// Whether the device counts as off hook (mic or speaker on), as
    /// `TSPI_phoneGetHookSwitch` reports it.
    pub const fn is_off_hook(self) -> bool {
        matches!(self, Self::Mic | Self::Speaker | Self::MicSpeaker)
    }
}

code_enum! {
    /// What a button does (`PHONEBUTTONFUNCTION_*`).
    pub enum ButtonFunction {
        /// Unknown or unassigned.
        Unknown = PHONEBUTTONFUNCTION_UNKNOWN,
        /// Conference.
        Conference = PHONEBUTTONFUNCTION_CONFERENCE,
        /// Transfer.
        Transfer = PHONEBUTTONFUNCTION_TRANSFER,
        /// Drop.
        Drop = PHONEBUTTONFUNCTION_DROP,
        /// Hold.
        Hold = PHONEBUTTONFUNCTION_HOLD,
        /// Recall.
        Recall = PHONEBUTTONFUNCTION_RECALL,
        /// Disconnect.
        Disconnect = PHONEBUTTONFUNCTION_DISCONNECT,
        /// Connect.
        Connect = PHONEBUTTONFUNCTION_CONNECT,
        /// Message waiting on.
        MsgWaitOn = PHONEBUTTONFUNCTION_MSGWAITON,
        /// Message waiting off.
        MsgWaitOff = PHONEBUTTONFUNCTION_MSGWAITOFF,
        /// Select ring.
        SelectRing = PHONEBUTTONFUNCTION_SELECTRING,
        /// Abbreviated dial.
        AbbrevDial = PHONEBUTTONFUNCTION_ABBREVDIAL,
        /// Forward.
        Forward = PHONEBUTTONFUNCTION_FORWARD,
        /// Pickup.
        Pickup = PHONEBUTTONFUNCTION_PICKUP,
        /// Ring again.
        RingAgain = PHONEBUTTONFUNCTION_RINGAGAIN,
        /// Park.
        Park = PHONEBUTTONFUNCTION_PARK,
        /// Reject.
        Reject = PHONEBUTTONFUNCTION_REJECT,
        /// Redirect.
        Redirect = PHONEBUTTONFUNCTION_REDIRECT,
        /// Mute.
        Mute = PHONEBUTTONFUNCTION_MUTE,
        /// Volume up.
        VolumeUp = PHONEBUTTONFUNCTION_VOLUMEUP,
        /// Volume down.
        VolumeDown = PHONEBUTTONFUNCTION_VOLUMEDOWN,
        /// Speaker on.
        SpeakerOn = PHONEBUTTONFUNCTION_SPEAKERON,
        /// Speaker off.
        SpeakerOff = PHONEBUTTONFUNCTION_SPEAKEROFF,
        /// Flash.
        Flash = PHONEBUTTONFUNCTION_FLASH,
        /// Data on.
        DataOn = PHONEBUTTONFUNCTION_DATAON,
        /// Data off.
        DataOff = PHONEBUTTONFUNCTION_DATAOFF,
        /// Do not disturb.
        DoNotDisturb = PHONEBUTTONFUNCTION_DONOTDISTURB,
        /// Intercom.
        Intercom = PHONEBUTTONFUNCTION_INTERCOM,
        /// Bridged appearance.
        BridgedApp = PHONEBUTTONFUNCTION_BRIDGEDAPP,
        /// Busy.
        Busy = PHONEBUTTONFUNCTION_BUSY,
        /// Call appearance.
        CallApp = PHONEBUTTONFUNCTION_CALLAPP,
        /// Date and time.
        DateTime = PHONEBUTTONFUNCTION_DATETIME,
        /// Directory.
        Directory = PHONEBUTTONFUNCTION_DIRECTORY,
        /// Cover.
        Cover = PHONEBUTTONFUNCTION_COVER,
        /// Caller id.
        CallId = PHONEBUTTONFUNCTION_CALLID,
        /// Last number redial.
        LastNum = PHONEBUTTONFUNCTION_LASTNUM,
        /// Night service.
        NightSrv = PHONEBUTTONFUNCTION_NIGHTSRV,
        /// Send all calls.
        SendCalls = PHONEBUTTONFUNCTION_SENDCALLS,
        /// Message indicator.
        MsgIndicator = PHONEBUTTONFUNCTION_MSGINDICATOR,
        /// Repertory dial.
        RepDial = PHONEBUTTONFUNCTION_REPDIAL,
        /// Program repertory dial.
        SetRepDial = PHONEBUTTONFUNCTION_SETREPDIAL,
        /// System speed dial.
        SystemSpeed = PHONEBUTTONFUNCTION_SYSTEMSPEED,
        /// Station speed dial.
        StationSpeed = PHONEBUTTONFUNCTION_STATIONSPEED,
        /// Camp on.
        CampOn = PHONEBUTTONFUNCTION_CAMPON,
        /// Save and repeat.
        SaveRepeat = PHONEBUTTONFUNCTION_SAVEREPEAT,
        /// Queue call.
        QueueCall = PHONEBUTTONFUNCTION_QUEUECALL,
        /// No function.
        None = PHONEBUTTONFUNCTION_NONE,
        /// Send (a later addition: not in the TAPI 2.0-era header).
        Send = PHONEBUTTONFUNCTION_SEND,
    }
}

bitflags! {
    /// `PHONESTATE_*`: which state changes a phone reports (PHONE_STATE param1,
    /// PHONECAPS.dwPhoneStates, SetStatusMessages).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PhoneStates: u32 {
        /// Other.
        const OTHER = sys::PHONESTATE_OTHER;
        /// The device is back.
        const CONNECTED = sys::PHONESTATE_CONNECTED;
        /// The device is gone for now.
        const DISCONNECTED = sys::PHONESTATE_DISCONNECTED;
        /// TAPI-level; never reported by a provider.
        const OWNER = sys::PHONESTATE_OWNER;
        /// TAPI-level; never reported by a provider.
        const MONITORS = sys::PHONESTATE_MONITORS;
        /// The display changed.
        const DISPLAY = sys::PHONESTATE_DISPLAY;
        /// A lamp changed (param2: its id).
        const LAMP = sys::PHONESTATE_LAMP;
        /// The ring mode changed (param2: the mode).
        const RINGMODE = sys::PHONESTATE_RINGMODE;
        /// The ring volume changed.
        const RINGVOLUME = sys::PHONESTATE_RINGVOLUME;
        /// The handset hookswitch changed (param2: the mode).
        const HANDSETHOOKSWITCH = sys::PHONESTATE_HANDSETHOOKSWITCH;
        /// The handset volume changed.
        const HANDSETVOLUME = sys::PHONESTATE_HANDSETVOLUME;
        /// The handset gain changed.
        const HANDSETGAIN = sys::PHONESTATE_HANDSETGAIN;
        /// The speaker hookswitch changed (param2: the mode).
        const SPEAKERHOOKSWITCH = sys::PHONESTATE_SPEAKERHOOKSWITCH;
        /// The speaker volume changed.
        const SPEAKERVOLUME = sys::PHONESTATE_SPEAKERVOLUME;
        /// The speaker gain changed.
        const SPEAKERGAIN = sys::PHONESTATE_SPEAKERGAIN;
        /// The headset hookswitch changed (param2: the mode).
        const HEADSETHOOKSWITCH = sys::PHONESTATE_HEADSETHOOKSWITCH;
        /// The headset volume changed.
        const HEADSETVOLUME = sys::PHONESTATE_HEADSETVOLUME;
        /// The headset gain changed.
        const HEADSETGAIN = sys::PHONESTATE_HEADSETGAIN;
        /// The phone is suspended.
        const SUSPEND = sys::PHONESTATE_SUSPEND;
        /// The phone resumed.
        const RESUME = sys::PHONESTATE_RESUME;
        /// Vendor-defined change.
        const DEVSPECIFIC = sys::PHONESTATE_DEVSPECIFIC;
        /// Reinitialise (always enabled).
        const REINIT = sys::PHONESTATE_REINIT;
        /// The capabilities changed.
        const CAPSCHANGE = sys::PHONESTATE_CAPSCHANGE;
        /// The device was removed.
        const REMOVED = sys::PHONESTATE_REMOVED;
    }
}

impl PhoneStates {
    /// The state a hookswitch change of `device` reports.
    pub const fn hookswitch_of(device: HookSwitchDevice) -> Self {
        match device {
            HookSwitchDevice::Handset => Self::HANDSETHOOKSWITCH,
            HookSwitchDevice::Speaker => Self::SPEAKERHOOKSWITCH,
            HookSwitchDevice::Headset => Self::HEADSETHOOKSWITCH,
        }
    }
}

bitflags! {
    /// `PHONESTATUSFLAGS_*`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PhoneStatusFlags: u32 {
        /// The device is connected.
        const CONNECTED = sys::PHONESTATUSFLAGS_CONNECTED;
        /// The device is suspended.
        const SUSPENDED = sys::PHONESTATUSFLAGS_SUSPENDED;
    }
}

bitflags! {
    /// `PHONEHOOKSWITCHDEV_*` as a set (SetHookSwitch, GetHookSwitch, caps).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct HookSwitchDevs: u32 {
        /// The handset.
        const HANDSET = sys::PHONEHOOKSWITCHDEV_HANDSET;
        /// The speakerphone.
        const SPEAKER = sys::PHONEHOOKSWITCHDEV_SPEAKER;
        /// The headset.
        const HEADSET = sys::PHONEHOOKSWITCHDEV_HEADSET;
    }
}

impl From<HookSwitchDevice> for HookSwitchDevs {
    fn from(device: HookSwitchDevice) -> Self {
        Self::from_bits_retain(device.code())
    }
}

bitflags! {
    /// `PHONEHOOKSWITCHMODE_*` as a set (what a device supports, may set, monitors).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct HookSwitchModes: u32 {
        /// On hook.
        const ONHOOK = sys::PHONEHOOKSWITCHMODE_ONHOOK;
        /// Microphone only.
        const MIC = sys::PHONEHOOKSWITCHMODE_MIC;
        /// Speaker only.
        const SPEAKER = sys::PHONEHOOKSWITCHMODE_SPEAKER;
        /// Microphone and speaker.
        const MICSPEAKER = sys::PHONEHOOKSWITCHMODE_MICSPEAKER;
        /// Unknown.
        const UNKNOWN = sys::PHONEHOOKSWITCHMODE_UNKNOWN;
    }
}

impl From<HookSwitchMode> for HookSwitchModes {
    fn from(mode: HookSwitchMode) -> Self {
        Self::from_bits_retain(mode.code())
    }
}

bitflags! {
    /// `PHONEBUTTONMODE_*`: the kind of a button.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ButtonModes: u32 {
        /// A lamp-only position (no button).
        const DUMMY = sys::PHONEBUTTONMODE_DUMMY;
        /// A call appearance.
        const CALL = sys::PHONEBUTTONMODE_CALL;
        /// A feature button.
        const FEATURE = sys::PHONEBUTTONMODE_FEATURE;
        /// A keypad digit, `*` or `#`.
        const KEYPAD = sys::PHONEBUTTONMODE_KEYPAD;
        /// A local function (not reported to the switch).
        const LOCAL = sys::PHONEBUTTONMODE_LOCAL;
        /// A display button.
        const DISPLAY = sys::PHONEBUTTONMODE_DISPLAY;
    }
}

bitflags! {
    /// `PHONEBUTTONSTATE_*`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ButtonStates: u32 {
        /// Released.
        const UP = sys::PHONEBUTTONSTATE_UP;
        /// Pressed.
        const DOWN = sys::PHONEBUTTONSTATE_DOWN;
        /// Unknown (TAPI 1.4 and later).
        const UNKNOWN = sys::PHONEBUTTONSTATE_UNKNOWN;
        /// Unavailable (TAPI 1.4 and later).
        const UNAVAIL = sys::PHONEBUTTONSTATE_UNAVAIL;
    }
}

bitflags! {
    /// `PHONELAMPMODE_*`. The high 16 bits are the vendor's and are kept as given.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct LampModes: u32 {
        /// No lamp at this position.
        const DUMMY = sys::PHONELAMPMODE_DUMMY;
        /// Off.
        const OFF = sys::PHONELAMPMODE_OFF;
        /// Steadily on.
        const STEADY = sys::PHONELAMPMODE_STEADY;
        /// Wink.
        const WINK = sys::PHONELAMPMODE_WINK;
        /// Flash.
        const FLASH = sys::PHONELAMPMODE_FLASH;
        /// Flutter.
        const FLUTTER = sys::PHONELAMPMODE_FLUTTER;
        /// Broken flutter.
        const BROKENFLUTTER = sys::PHONELAMPMODE_BROKENFLUTTER;
        /// Unknown.
        const UNKNOWN = sys::PHONELAMPMODE_UNKNOWN;
        /// Vendor-defined modes.
        const _ = 0xFFFF_0000;
    }
}

impl LampModes {
    /// Whether exactly one mode is set, as SetLamp requires.
    pub const fn is_single(self) -> bool {
        self.bits().count_ones() == 1
    }
}

bitflags! {
    /// `PHONEFEATURE_*`: which phone functions can be invoked.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PhoneFeatures: u32 {
        /// phoneGetButtonInfo.
        const GETBUTTONINFO = sys::PHONEFEATURE_GETBUTTONINFO;
        /// phoneGetData.
        const GETDATA = sys::PHONEFEATURE_GETDATA;
        /// phoneGetDisplay.
        const GETDISPLAY = sys::PHONEFEATURE_GETDISPLAY;
        /// phoneGetGain on the handset.
        const GETGAINHANDSET = sys::PHONEFEATURE_GETGAINHANDSET;
        /// phoneGetGain on the speaker.
        const GETGAINSPEAKER = sys::PHONEFEATURE_GETGAINSPEAKER;
        /// phoneGetGain on the headset.
        const GETGAINHEADSET = sys::PHONEFEATURE_GETGAINHEADSET;
        /// phoneGetHookSwitch for the handset.
        const GETHOOKSWITCHHANDSET = sys::PHONEFEATURE_GETHOOKSWITCHHANDSET;
        /// phoneGetHookSwitch for the speaker.
        const GETHOOKSWITCHSPEAKER = sys::PHONEFEATURE_GETHOOKSWITCHSPEAKER;
        /// phoneGetHookSwitch for the headset.
        const GETHOOKSWITCHHEADSET = sys::PHONEFEATURE_GETHOOKSWITCHHEADSET;
        /// phoneGetLamp.
        const GETLAMP = sys::PHONEFEATURE_GETLAMP;
        /// phoneGetRing.
        const GETRING = sys::PHONEFEATURE_GETRING;
        /// phoneGetVolume on the handset.
        const GETVOLUMEHANDSET = sys::PHONEFEATURE_GETVOLUMEHANDSET;
        /// phoneGetVolume on the speaker.
        const GETVOLUMESPEAKER = sys::PHONEFEATURE_GETVOLUMESPEAKER;
        /// phoneGetVolume on the headset.
        const GETVOLUMEHEADSET = sys::PHONEFEATURE_GETVOLUMEHEADSET;
        /// phoneSetButtonInfo.
        const SETBUTTONINFO = sys::PHONEFEATURE_SETBUTTONINFO;
        /// phoneSetData.
        const SETDATA = sys::PHONEFEATURE_SETDATA;
        /// phoneSetDisplay.
        const SETDISPLAY = sys::PHONEFEATURE_SETDISPLAY;
        /// phoneSetGain on the handset.
        const SETGAINHANDSET = sys::PHONEFEATURE_SETGAINHANDSET;
        /// phoneSetGain on the speaker.
        const SETGAINSPEAKER = sys::PHONEFEATURE_SETGAINSPEAKER;
        /// phoneSetGain on the headset.
        const SETGAINHEADSET = sys::PHONEFEATURE_SETGAINHEADSET;
        /// phoneSetHookSwitch for the handset.
        const SETHOOKSWITCHHANDSET = sys::PHONEFEATURE_SETHOOKSWITCHHANDSET;
        /// phoneSetHookSwitch for the speaker.
        const SETHOOKSWITCHSPEAKER = sys::PHONEFEATURE_SETHOOKSWITCHSPEAKER;
        /// phoneSetHookSwitch for the headset.
        const SETHOOKSWITCHHEADSET = sys::PHONEFEATURE_SETHOOKSWITCHHEADSET;
        /// phoneSetLamp.
        const SETLAMP = sys::PHONEFEATURE_SETLAMP;
        /// phoneSetRing.
        const SETRING = sys::PHONEFEATURE_SETRING;
        /// phoneSetVolume on the handset.
        const SETVOLUMEHANDSET = sys::PHONEFEATURE_SETVOLUMEHANDSET;
        /// phoneSetVolume on the speaker.
        const SETVOLUMESPEAKER = sys::PHONEFEATURE_SETVOLUMESPEAKER;
        /// phoneSetVolume on the headset.
        const SETVOLUMEHEADSET = sys::PHONEFEATURE_SETVOLUMEHEADSET;
        /// A generic phone (TAPI 3.0).
        const GENERICPHONE = sys::PHONEFEATURE_GENERICPHONE;
    }
}
