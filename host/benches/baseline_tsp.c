/*
 * The benchmark's baseline: a minimal but correct TSP in C. Two phones with one
 * 256-byte data area each, handles checked against a table, SetData completed
 * inline under one callback lock, exactly what the request path must do and
 * nothing more. Built by the benchmark with the system's C compiler.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

typedef int32_t LONG;
typedef uint32_t DWORD;
typedef void (*ASYNC_COMPLETION)(DWORD, LONG);

#define PHONEERR_INVALDATAID ((LONG)0x9000000C)
#define PHONEERR_INVALPHONEHANDLE ((LONG)0x90000013)
#define PHONEERR_OPERATIONFAILED ((LONG)0x9000001C)
#define PHONEERR_ALLOCATED ((LONG)0x90000001)
#define PHONEERR_BADDEVICEID ((LONG)0x90000002)

struct phone { int open; uint8_t area[256]; pthread_mutex_t lock; };
static struct phone phones[2] = {{0, {0}, PTHREAD_MUTEX_INITIALIZER}, {0, {0}, PTHREAD_MUTEX_INITIALIZER}};
static ASYNC_COMPLETION completion;
static DWORD base;
static pthread_mutex_t callback_lock = PTHREAD_MUTEX_INITIALIZER;

LONG TSPI_providerEnumDevices(DWORD id, DWORD *lines, DWORD *count, void *h, void *lp, void *pp) {
    (void)id; (void)h; (void)lp; (void)pp;
    *lines = 0; *count = 2;
    return 0;
}

LONG TSPI_providerInit(DWORD v, DWORD id, DWORD lb, DWORD pb, uintptr_t nl, uintptr_t np, ASYNC_COMPLETION proc, DWORD *opts) {
    (void)v; (void)id; (void)lb; (void)nl; (void)np;
    base = pb; completion = proc;
    if (opts) *opts = 0;
    return 0;
}

LONG TSPI_providerShutdown(DWORD v, DWORD id) { (void)v; (void)id; return 0; }

LONG TSPI_phoneOpen(DWORD dev, void *ht, void **hd, DWORD v, void *proc) {
    (void)ht; (void)v; (void)proc;
    if (dev < base || dev - base >= 2) return PHONEERR_BADDEVICEID;
    struct phone *p = &phones[dev - base];
    if (__atomic_exchange_n(&p->open, 1, __ATOMIC_ACQ_REL)) return PHONEERR_ALLOCATED;
    *hd = (void *)(uintptr_t)(dev - base + 1);
    return 0;
}

LONG TSPI_phoneClose(void *hd) {
    uintptr_t h = (uintptr_t)hd;
    if (h < 1 || h > 2) return PHONEERR_INVALPHONEHANDLE;
    __atomic_store_n(&phones[h - 1].open, 0, __ATOMIC_RELEASE);
    return 0;
}

LONG TSPI_phoneSetData(DWORD request, void *hd, DWORD data_id, void *data, DWORD size) {
    uintptr_t h = (uintptr_t)hd;
    if (h < 1 || h > 2 || !__atomic_load_n(&phones[h - 1].open, __ATOMIC_ACQUIRE)) return PHONEERR_INVALPHONEHANDLE;
    if (data_id != 0) return PHONEERR_INVALDATAID;
    if (size > 256) return PHONEERR_OPERATIONFAILED;
    struct phone *p = &phones[h - 1];
    pthread_mutex_lock(&p->lock);
    memcpy(p->area, data, size);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_lock(&callback_lock);
    completion(request, 0);
    pthread_mutex_unlock(&callback_lock);
    return (LONG)request;
}
