/* libcufft.so.11 for ASTRA's PyPI wheel on a machine that has only CUDA 13's cuFFT (libcufft.so.12).

   astra-toolbox 2.5's wheels link CUDA 12's cuFFT (soname libcufft.so.11, 280 MB as a wheel: too big to carry to
   a GPU machine without network).  ASTRA's 3-D projectors and SIRT3D_CUDA never call cuFFT; its FBP filters do, with
   the five functions below.  Their signatures and meanings are the same in cuFFT 11 and 12, so each call goes to
   libcufft.so.12 named by the environment variable TILTREC_CUFFT12 (else the one the dynamic loader finds), opened on
   the first call; without one the call fails with CUFFT_SETUP_FAILED instead of the process failing to start.  Built by bin/_offline_env.sh with a
   version script that gives every symbol the version libcufft.so.11, as ASTRA's imports ask. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef int cufft_result;       /* cufftResult */
typedef int cufft_handle;       /* cufftHandle */
enum { CUFFT_SETUP_FAILED = 7 };

static void *cufft12(const char *name)
{
    static void *library;
    if (!library) {
        const char *path = getenv("TILTREC_CUFFT12");
        library = dlopen(path && *path ? path : "libcufft.so.12", RTLD_NOW | RTLD_LOCAL);
    }
    return library ? dlsym(library, name) : NULL;
}

#define FORWARD(name, params, args)                                  \
    cufft_result name params                                          \
    {                                                                 \
        static cufft_result (*target) params;                         \
        if (!target)                                                  \
            *(void **)&target = cufft12(#name);                       \
        return target ? target args : CUFFT_SETUP_FAILED;             \
    }

FORWARD(cufftPlan1d, (cufft_handle *plan, int nx, int type, int batch), (plan, nx, type, batch))
FORWARD(cufftExecR2C, (cufft_handle plan, void *idata, void *odata), (plan, idata, odata))
FORWARD(cufftExecC2R, (cufft_handle plan, void *idata, void *odata), (plan, idata, odata))
FORWARD(cufftDestroy, (cufft_handle plan), (plan))
FORWARD(cufftSetStream, (cufft_handle plan, void *stream), (plan, stream))
