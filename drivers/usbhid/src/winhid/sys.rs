//! The device paths of every present HID collection, from SetupAPI.
//!
//! hidapi lists devices through cfgmgr32 (`CM_Get_Device_Interface_ListW`),
//! which wine does not implement for the HID class (it answers CR_FAILURE);
//! SetupAPI gives the same list on Windows and works under wine, where the
//! Windows TSP is tested.

use std::ffi::CString;

use windows_sys::Win32::Devices::DeviceAndDriverInstallation::{
    DIGCF_DEVICEINTERFACE, DIGCF_PRESENT, SP_DEVICE_INTERFACE_DATA,
    SP_DEVICE_INTERFACE_DETAIL_DATA_W, SetupDiDestroyDeviceInfoList, SetupDiEnumDeviceInterfaces,
    SetupDiGetClassDevsW, SetupDiGetDeviceInterfaceDetailW,
};
use windows_sys::Win32::Devices::HumanInterfaceDevice::HidD_GetHidGuid;
use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
use windows_sys::core::GUID;

/// A device information set, destroyed when dropped.
struct DeviceSet(isize);

impl Drop for DeviceSet {
    fn drop(&mut self) {
        // SAFETY: the set came from SetupDiGetClassDevsW and is destroyed once.
        unsafe { SetupDiDestroyDeviceInfoList(self.0) };
    }
}

/// The device path of every present HID collection.
///
/// # Errors
/// The system's error when SetupAPI cannot list the HID class.
pub(crate) fn hid_paths() -> std::io::Result<Vec<CString>> {
    let mut guid = GUID::from_u128(0);
    // SAFETY: `guid` is a valid GUID to write.
    unsafe { HidD_GetHidGuid(&raw mut guid) };
    // SAFETY: a valid class GUID, no enumerator, no window.
    let set = unsafe {
        SetupDiGetClassDevsW(
            &raw const guid,
            std::ptr::null(),
            std::ptr::null_mut(),
            DIGCF_PRESENT | DIGCF_DEVICEINTERFACE,
        )
    };
    if set == INVALID_HANDLE_VALUE as isize {
        return Err(std::io::Error::last_os_error());
    }
    let set = DeviceSet(set);
    let mut paths = Vec::new();
    for index in 0.. {
        let mut interface = SP_DEVICE_INTERFACE_DATA {
            cbSize: size_of::<SP_DEVICE_INTERFACE_DATA>() as u32,
            InterfaceClassGuid: GUID::from_u128(0),
            Flags: 0,
            Reserved: 0,
        };
        // SAFETY: the set is open; `interface` is writable with its size set.
        let listed = unsafe {
            SetupDiEnumDeviceInterfaces(
                set.0,
                std::ptr::null(),
                &raw const guid,
                index,
                &raw mut interface,
            )
        };
        if listed == 0 {
            break; // ERROR_NO_MORE_ITEMS, or the list cannot go on.
        }
        if let Some(path) = detail_path(&set, &interface) {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// The device path of one listed interface (`None` if it went meanwhile).
fn detail_path(set: &DeviceSet, interface: &SP_DEVICE_INTERFACE_DATA) -> Option<CString> {
    let mut size = 0u32;
    // SAFETY: asking for the size only: no buffer, its size 0.
    unsafe {
        SetupDiGetDeviceInterfaceDetailW(
            set.0,
            interface,
            std::ptr::null_mut(),
            0,
            &raw mut size,
            std::ptr::null_mut(),
        )
    };
    let header = size_of::<SP_DEVICE_INTERFACE_DETAIL_DATA_W>();
    let bytes = usize::try_from(size).ok().filter(|b| *b >= header)?;
    // u32 elements: the structure's alignment (4) for the buffer.
    let mut buffer = vec![0u32; bytes.div_ceil(4)];
    let detail = buffer
        .as_mut_ptr()
        .cast::<SP_DEVICE_INTERFACE_DETAIL_DATA_W>();
    // SAFETY: the buffer holds `bytes` >= the structure's size and is aligned
    // for it; cbSize is the fixed part's size, as the API wants.
    unsafe { (*detail).cbSize = header as u32 };
    // SAFETY: `detail` points at `bytes` writable bytes, as `size` says.
    let got = unsafe {
        SetupDiGetDeviceInterfaceDetailW(
            set.0,
            interface,
            detail,
            size,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if got == 0 {
        return None;
    }
    // The path starts after cbSize and runs, NUL-terminated, to the end.
    let offset = std::mem::offset_of!(SP_DEVICE_INTERFACE_DETAIL_DATA_W, DevicePath);
    let units = (bytes - offset) / 2;
    // SAFETY: `units` UTF-16 units lie within the buffer after the offset,
    // which is 2-aligned; the system wrote them.
    let wide =
        unsafe { std::slice::from_raw_parts(detail.cast::<u8>().add(offset).cast::<u16>(), units) };
    let end = wide.iter().position(|u| *u == 0).unwrap_or(wide.len());
    let path = String::from_utf16(&wide[..end]).ok()?;
    CString::new(path).ok()
}

/// What a HID collection says of itself without being read from: ids and
/// its top-level usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Collection {
    pub(crate) vendor_id: u16,
    pub(crate) product_id: u16,
    pub(crate) usage_page: u16,
    /// The longest feature report with its id byte: the class driver refuses
    /// a shorter buffer for any feature report of the collection.
    pub(crate) feature_len: usize,
}

/// A handle closed when dropped.
struct Handle(windows_sys::Win32::Foundation::HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a handle CreateFileW opened, closed once.
        unsafe { windows_sys::Win32::Foundation::CloseHandle(self.0) };
    }
}

/// The collection at `path`: opened with no access rights (allowed even for
/// keyboards and mice the system holds), its attributes and top-level usage.
/// `None` when it cannot be opened or asked (gone meanwhile).
pub(crate) fn collection(path: &std::ffi::CStr) -> Option<Collection> {
    use windows_sys::Win32::Devices::HumanInterfaceDevice::{
        HIDD_ATTRIBUTES, HIDP_CAPS, HIDP_STATUS_SUCCESS, HidD_FreePreparsedData,
        HidD_GetAttributes, HidD_GetPreparsedData, HidP_GetCaps,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
    };

    let wide: Vec<u16> = path
        .to_str()
        .ok()?
        .encode_utf16()
        .chain(std::iter::once(0))
        .collect();
    // SAFETY: a NUL-terminated path; no security attributes or template.
    let raw = unsafe {
        CreateFileW(
            wide.as_ptr(),
            0,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        )
    };
    if raw == INVALID_HANDLE_VALUE {
        return None;
    }
    let handle = Handle(raw);
    let mut attributes = HIDD_ATTRIBUTES {
        Size: size_of::<HIDD_ATTRIBUTES>() as u32,
        VendorID: 0,
        ProductID: 0,
        VersionNumber: 0,
    };
    // SAFETY: an open handle; `attributes` writable with its size set.
    if !unsafe { HidD_GetAttributes(handle.0, &raw mut attributes) } {
        return None;
    }
    let mut preparsed = 0;
    // SAFETY: an open handle; the preparsed data is freed below.
    if !unsafe { HidD_GetPreparsedData(handle.0, &raw mut preparsed) } {
        return None;
    }
    // SAFETY: HIDP_CAPS is plain data; all zeros is a valid value.
    let mut caps: HIDP_CAPS = unsafe { std::mem::zeroed() };
    // SAFETY: preparsed data HidD_GetPreparsedData gave; `caps` writable.
    let status = unsafe { HidP_GetCaps(preparsed, &raw mut caps) };
    // SAFETY: freed once, after its last use.
    unsafe { HidD_FreePreparsedData(preparsed) };
    (status == HIDP_STATUS_SUCCESS).then_some(Collection {
        vendor_id: attributes.VendorID,
        product_id: attributes.ProductID,
        usage_page: caps.UsagePage,
        feature_len: usize::from(caps.FeatureReportByteLength),
    })
}
