/* Scope-bound cleanup helpers (GCC/Clang `cleanup` attribute). */
#ifndef KVMC_CMN_AUTO_H
#define KVMC_CMN_AUTO_H

#include <stdlib.h>
#include <unistd.h>

static inline void cmn_freep(void *p)
{
    free(*(void **)p);
}

static inline void cmn_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

/* char *s cmn_autofree = strdup("x"); freed when s leaves scope. */
#define cmn_autofree __attribute__((cleanup(cmn_freep)))
/* int fd cmn_autoclose = open(...); closed when fd leaves scope. */
#define cmn_autoclose __attribute__((cleanup(cmn_closep)))

/* CMN_DEFINE_AUTO(csv_volume, csv_volume_free) after the type's
 * declaration; then CMN_AUTO(csv_volume) *v = NULL; frees v on scope exit.
 * The free function must accept NULL. */
#define CMN_DEFINE_AUTO(type, freefn)                                          \
    static inline void type##_autoptr(struct type **p)                         \
    {                                                                          \
        freefn(*p);                                                            \
    }
#define CMN_AUTO(type) __attribute__((cleanup(type##_autoptr))) struct type

/* Hand ownership out of an auto variable: returns it and clears it. */
#define CMN_STEAL(p)                                                           \
    ({                                                                         \
        __typeof__(p) cmn_steal_tmp_ = (p);                                    \
        (p) = NULL;                                                            \
        cmn_steal_tmp_;                                                        \
    })

#define CMN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
