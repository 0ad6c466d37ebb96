/*
 * Every TSPI phone function through the C exports, on the mock's phone 0
 * (display 2 x 16, keypad ids 0-11, lamps 12 and 13, a handset, 3 ring modes,
 * four 256-byte data areas, device class "tsp-rs/mock"): what it answers, and
 * the TSPI-level checks made before the driver sees anything.
 * Usage: functions /path/to/libtsp_host.so
 */
#include "tspi_loader.h"

static DWORD next_id = 1000;

/* The id of the request ASYNC_OK starts; `call` uses it. */
static DWORD ID;

/* Starts an asynchronous request with a fresh id; true when it returned the id and
 * completed exactly once with success. */
#define ASYNC_OK(call) (ID = next_id++, async_ok((call), ID, 0))
static int async_ok(LONG returned, DWORD id, LONG result) {
    return returned == (LONG)id && completed_once(id, result);
}

static void utf16(uint16_t *out, const char *text) {
    while ((*out++ = (uint8_t)*text++)) {}
}

static int display_is(HDRVPHONE hd, const char *expected) {
    uint8_t buf[256];
    if (tspi_phoneGetDisplay(hd, tapi_buffer(buf, sizeof buf)) != 0) return 0;
    if (u32_at(buf, 12) != H_STRINGFORMAT_UNICODE) return 0;
    DWORD size = u32_at(buf, 16), off = u32_at(buf, 20);
    size_t n = strlen(expected);
    if (size != (n + 1) * 2) return 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t unit; memcpy(&unit, buf + off + 2 * i, 2);
        if (unit != (uint8_t)expected[i]) return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: functions LIBRARY\n"); return 2; }
    load(argv[1]);
    start();
    HDRVPHONE hd = NULL;
    check(tspi_phoneOpen(BASE, (HTAPIPHONE)0x61, &hd, V31, on_event) == 0, "TSPI_phoneOpen");
    DWORD a = 0, b = 0;
    uint8_t buf[512];
    uint16_t text[64];

    /* Button info. */
    check(tspi_phoneGetButtonInfo(hd, 1, tapi_buffer(buf, sizeof buf)) == 0 && u32_at(buf, 12) == H_PHONEBUTTONMODE_KEYPAD,
          "GetButtonInfo: keypad button 1");
    check(tspi_phoneGetButtonInfo(hd, 14, tapi_buffer(buf, sizeof buf)) == H_PHONEERR_INVALBUTTONLAMPID, "GetButtonInfo: id past the buttons");
    check(tspi_phoneGetButtonInfo(hd, 1, tapi_buffer(buf, 20)) == H_PHONEERR_STRUCTURETOOSMALL, "GetButtonInfo: below the fixed part");
    uint8_t info[64];
    tapi_buffer(info, sizeof info);
    DWORD mode = H_PHONEBUTTONMODE_FEATURE, function = 4, text_size = 10, text_off = 40;
    memcpy(info + 12, &mode, 4); memcpy(info + 16, &function, 4);
    memcpy(info + 20, &text_size, 4); memcpy(info + 24, &text_off, 4);
    utf16(text, "Hold"); memcpy(info + 40, text, 10);
    check(ASYNC_OK(tspi_phoneSetButtonInfo(ID, hd, 12, (void *)info)), "SetButtonInfo relabels lamp button 12");
    check(tspi_phoneGetButtonInfo(hd, 12, tapi_buffer(buf, sizeof buf)) == 0 && u32_at(buf, 20) == 10 &&
          memcmp(buf + u32_at(buf, 24), text, 10) == 0, "GetButtonInfo reads the new label");
    check(tspi_phoneSetButtonInfo(next_id, hd, 99, (void *)info) == H_PHONEERR_INVALBUTTONLAMPID, "SetButtonInfo: bad id, negative return");

    /* Display. */
    check(display_is(hd, "                                "), "GetDisplay: 2 x 16 blanks at start");
    utf16(text, "Hello");
    check(ASYNC_OK(tspi_phoneSetDisplay(ID, hd, 0, 0, text, 12)), "SetDisplay(0, 0, \"Hello\")");
    check(display_is(hd, "Hello                           "), "GetDisplay shows it");
    utf16(text, "ABCDEFGHIJ");
    check(ASYNC_OK(tspi_phoneSetDisplay(ID, hd, 1, 10, text, 22)), "SetDisplay past the edge");
    check(display_is(hd, "Hello                     ABCDEF"), "text past the display is cut at its edge");
    check(tspi_phoneSetDisplay(next_id, hd, 0, 0, text, 7) == H_PHONEERR_INVALPARAM, "SetDisplay: odd dwSize");
    check(tspi_phoneSetDisplay(next_id, hd, 0, 0, text, 6) == H_PHONEERR_INVALPARAM, "SetDisplay: no terminator inside dwSize");
    uint16_t lone[] = {0xD800, 0};
    check(tspi_phoneSetDisplay(next_id, hd, 0, 0, lone, 4) == H_PHONEERR_INVALPARAM, "SetDisplay: unpaired surrogate");
    check(tspi_phoneSetDisplay(next_id, hd, 2, 0, text, 22) == H_PHONEERR_INVALPARAM, "SetDisplay: row past the display");
    check(tspi_phoneSetDisplay(next_id, hd, 0, 16, text, 22) == H_PHONEERR_INVALPARAM, "SetDisplay: column past the display");

    /* Extensions: none. */
    uint8_t ext[16]; memset(ext, 0xFF, sizeof ext);
    int zeros = tspi_phoneGetExtensionID(BASE, V31, (void *)ext) == 0;
    for (int i = 0; i < 16; i++) zeros &= ext[i] == 0;
    check(zeros, "GetExtensionID: all zeros, no extensions");
    check(tspi_phoneNegotiateExtVersion(BASE, V31, 1, 0x10000, &a) == H_PHONEERR_INCOMPATIBLEEXTVERSION, "NegotiateExtVersion: none in range");
    check(tspi_phoneSelectExtVersion(hd, 0) == 0, "SelectExtVersion(0) cancels");
    check(tspi_phoneSelectExtVersion(hd, 0x10000) == H_PHONEERR_INCOMPATIBLEEXTVERSION, "SelectExtVersion of an unknown version");

    /* Gain and volume. */
    check(tspi_phoneGetGain(hd, H_PHONEHOOKSWITCHDEV_HANDSET, &a) == 0 && a == 0x8000, "GetGain(handset)");
    check(ASYNC_OK(tspi_phoneSetGain(ID, hd, H_PHONEHOOKSWITCHDEV_HANDSET, 0x1234)), "SetGain(handset, 0x1234)");
    check(tspi_phoneGetGain(hd, H_PHONEHOOKSWITCHDEV_HANDSET, &a) == 0 && a == 0x1234, "GetGain reads it back");
    check(ASYNC_OK(tspi_phoneSetGain(ID, hd, H_PHONEHOOKSWITCHDEV_HANDSET, 0x12345)) &&
          tspi_phoneGetGain(hd, H_PHONEHOOKSWITCHDEV_HANDSET, &a) == 0 && a == 0xFFFF, "SetGain above 0xFFFF is clamped");
    check(tspi_phoneSetGain(next_id, hd, H_PHONEHOOKSWITCHDEV_SPEAKER, 1) == H_PHONEERR_INVALHOOKSWITCHDEV, "SetGain: a device the phone lacks");
    check(tspi_phoneSetGain(next_id, hd, 3, 1) == H_PHONEERR_INVALHOOKSWITCHDEV, "SetGain: two devices at once");
    check(tspi_phoneGetGain(hd, H_PHONEHOOKSWITCHDEV_SPEAKER, &a) == H_PHONEERR_INVALHOOKSWITCHDEV, "GetGain: a device the phone lacks");
    check(tspi_phoneGetGain(hd, H_PHONEHOOKSWITCHDEV_HANDSET, NULL) == H_PHONEERR_INVALPOINTER, "GetGain: null pointer");
    check(ASYNC_OK(tspi_phoneSetVolume(ID, hd, H_PHONEHOOKSWITCHDEV_HANDSET, 0x4321)) &&
          tspi_phoneGetVolume(hd, H_PHONEHOOKSWITCHDEV_HANDSET, &a) == 0 && a == 0x4321, "SetVolume and GetVolume(handset)");
    check(tspi_phoneSetVolume(next_id, hd, H_PHONEHOOKSWITCHDEV_SPEAKER, 1) == H_PHONEERR_INVALHOOKSWITCHDEV, "SetVolume: a device the phone lacks");

    /* Hookswitch. */
    check(tspi_phoneGetHookSwitch(hd, &a) == 0 && a == 0, "GetHookSwitch: on hook");
    check(ASYNC_OK(tspi_phoneSetHookSwitch(ID, hd, H_PHONEHOOKSWITCHDEV_HANDSET, H_PHONEHOOKSWITCHMODE_MICSPEAKER)), "SetHookSwitch(handset, micspeaker)");
    check(tspi_phoneGetHookSwitch(hd, &a) == 0 && a == H_PHONEHOOKSWITCHDEV_HANDSET, "GetHookSwitch: the handset is off hook");
    check(tspi_phoneSetHookSwitch(next_id, hd, H_PHONEHOOKSWITCHDEV_HANDSET, H_PHONEHOOKSWITCHMODE_MIC) == H_PHONEERR_INVALHOOKSWITCHMODE, "SetHookSwitch: a mode the handset cannot be set to");
    check(tspi_phoneSetHookSwitch(next_id, hd, H_PHONEHOOKSWITCHDEV_HANDSET, H_PHONEHOOKSWITCHMODE_MIC | H_PHONEHOOKSWITCHMODE_SPEAKER) == H_PHONEERR_INVALHOOKSWITCHMODE, "SetHookSwitch: two modes");
    check(tspi_phoneSetHookSwitch(next_id, hd, H_PHONEHOOKSWITCHDEV_SPEAKER, H_PHONEHOOKSWITCHMODE_ONHOOK) == H_PHONEERR_INVALHOOKSWITCHDEV, "SetHookSwitch: a device the phone lacks");
    check(tspi_phoneSetHookSwitch(next_id, hd, 0, H_PHONEHOOKSWITCHMODE_ONHOOK) == H_PHONEERR_INVALHOOKSWITCHDEV, "SetHookSwitch: no device");

    /* Icon and ID. */
    HICON icon = (HICON)1;
    check(tspi_phoneGetIcon(BASE, NULL, &icon) == 0 && icon == NULL, "GetIcon: no icon of its own (TAPI's generic one)");
    utf16(text, "tapi/phone");
    check(tspi_phoneGetIcon(BASE, text, &icon) == 0, "GetIcon(\"tapi/phone\")");
    utf16(text, "comm");
    check(tspi_phoneGetIcon(BASE, text, &icon) == H_PHONEERR_INVALDEVICECLASS, "GetIcon of another class");
    check(tspi_phoneGetIcon(BASE + 9, NULL, &icon) == H_PHONEERR_BADDEVICEID, "GetIcon of an unknown device");
    utf16(text, "TSP-RS/Mock");
    check(tspi_phoneGetID(hd, tapi_buffer(buf, sizeof buf), text, NULL) == 0 && u32_at(buf, 16) == 12,
          "GetID(\"TSP-RS/Mock\"): classes compared without regard to case, the key \"mock0\"");
    utf16(text, "comm/datamodem");
    check(tspi_phoneGetID(hd, tapi_buffer(buf, sizeof buf), text, NULL) == H_PHONEERR_INVALDEVICECLASS, "GetID of a class the phone does not list");

    /* Lamps, with H_PHONE_STATE(LAMP) once asked for. */
    check(tspi_phoneGetLamp(hd, 12, &a) == 0 && a == H_PHONELAMPMODE_OFF, "GetLamp(12): off");
    check(tspi_phoneSetStatusMessages(hd, H_PHONESTATE_LAMP, 0, 0) == 0, "SetStatusMessages(LAMP)");
    int before = events_seen;
    check(ASYNC_OK(tspi_phoneSetLamp(ID, hd, 12, H_PHONELAMPMODE_FLASH)), "SetLamp(12, flash)");
    check(events_seen == before + 1 && last_msg == H_PHONE_STATE && last_params[0] == H_PHONESTATE_LAMP && last_params[1] == 12,
          "H_PHONE_STATE(LAMP, 12) arrived");
    check(tspi_phoneGetLamp(hd, 12, &a) == 0 && a == H_PHONELAMPMODE_FLASH, "GetLamp reads it back");
    check(tspi_phoneSetLamp(next_id, hd, 12, H_PHONELAMPMODE_FLASH | H_PHONELAMPMODE_OFF) == H_PHONEERR_INVALLAMPMODE, "SetLamp: two modes");
    check(tspi_phoneSetLamp(next_id, hd, 12, H_PHONELAMPMODE_WINK) == H_PHONEERR_INVALLAMPMODE, "SetLamp: a mode the lamp lacks");
    check(tspi_phoneSetLamp(next_id, hd, 3, H_PHONELAMPMODE_OFF) == H_PHONEERR_INVALLAMPMODE, "SetLamp on a keypad button without a lamp");
    check(tspi_phoneSetLamp(next_id, hd, 14, H_PHONELAMPMODE_OFF) == H_PHONEERR_INVALBUTTONLAMPID, "SetLamp: id past the lamps");
    check(tspi_phoneGetLamp(hd, 14, &a) == H_PHONEERR_INVALBUTTONLAMPID, "GetLamp: id past the lamps");
    check(tspi_phoneSetStatusMessages(hd, 0, 0, 0) == 0, "SetStatusMessages(nothing)");
    before = events_seen;
    check(ASYNC_OK(tspi_phoneSetLamp(ID, hd, 13, H_PHONELAMPMODE_FLASH)) && events_seen == before, "no H_PHONE_STATE when not asked for");

    /* Ring. */
    check(tspi_phoneGetRing(hd, &a, &b) == 0 && a == 0 && b == 0x8000, "GetRing: silent");
    check(ASYNC_OK(tspi_phoneSetRing(ID, hd, 3, 0x4000)) && tspi_phoneGetRing(hd, &a, &b) == 0 && a == 3 && b == 0x4000,
          "SetRing(3, 0x4000) and GetRing");
    check(tspi_phoneSetRing(next_id, hd, 4, 0) == H_PHONEERR_INVALRINGMODE, "SetRing: a mode past dwNumRingModes");
    check(tspi_phoneGetRing(hd, NULL, &b) == H_PHONEERR_INVALPOINTER, "GetRing: null pointer");

    /* Status reflects it all. */
    check(tspi_phoneGetStatus(hd, tapi_buffer(buf, sizeof buf)) == 0 && u32_at(buf, 0x18) == 3 &&
          u32_at(buf, 0x20) == H_PHONEHOOKSWITCHMODE_MICSPEAKER, "GetStatus: ring mode 3, handset mic+speaker");

    /* Every DOWN gets an UP: made up for a device that reports presses only. */
    check(tspi_phoneSetStatusMessages(hd, 0, H_PHONEBUTTONMODE_KEYPAD, 0x3) == 0, "SetStatusMessages(keypad buttons down and up)");
    int mark = event_count;
    check(tspi_phoneDevSpecific(next_id++, hd, "press-down 7", 12) > 0, "mock command: key 7 down, no release reported");
    int up = -1;
    for (int i = 0; i < 200 && up < 0; i++) {
        for (int e = mark; e < event_count && e < MAX_EVENTS; e++)
            if (event_log[e].msg == H_PHONE_BUTTON && event_log[e].p1 == 7 && event_log[e].p3 == 0x1) up = e;
        if (up < 0) usleep(10000);
    }
    check(up > mark && event_log[mark].msg == H_PHONE_BUTTON && event_log[mark].p3 == 0x2,
          "H_PHONE_BUTTON(7, DOWN), then the host made up H_PHONE_BUTTON(7, UP)");
    mark = event_count;
    check(tspi_phoneDevSpecific(next_id++, hd, "press 8", 7) > 0, "mock command: key 8 down and up");
    usleep(400000);
    check(event_count == mark + 2, "a reported release is not made up twice");

    check(overlaps == 0, "callbacks never overlapped");
    check(tspi_phoneClose(hd) == 0 && tspi_providerShutdown(V31, 7) == 0, "close and shut down");
    return finish();
}
