/* Checkpoint blob of the learning state: CRC, sealing, validation of a restored blob. */
#include <math.h>
#include <stddef.h>

#include "mf_head.h"

/* The blob is the struct: its size must be what the host computes from the dims. */
typedef char mf_head_state_has_no_padding[(sizeof(mf_head_state) == MF_HEAD_STATE_BYTES) ? 1 : -1];

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32): pass crc = 0 to start. */
uint32_t mf_head_crc32(const uint8_t *data, uint32_t n, uint32_t crc)
{
    uint32_t i;
    int bit;
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc ^= data[i];
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
    }
    return ~crc;
}

static uint32_t blob_crc(void)
{
    const uint8_t *p = (const uint8_t *)&mf_head;
    const uint8_t zero[4] = {0, 0, 0, 0};
    size_t at = offsetof(mf_head_state, crc);
    uint32_t crc = mf_head_crc32(p, (uint32_t)at, 0);
    crc = mf_head_crc32(zero, 4, crc);
    return mf_head_crc32(p + at + 4u, (uint32_t)(sizeof(mf_head_state) - at - 4u), crc);
}

uint32_t mf_head_seal(void)
{
    mf_head.crc = blob_crc();
    return mf_head.crc;
}

const char *mf_head_validate(void)
{
    const mf_head_state *s = &mf_head;
    if (s->magic != MF_HEAD_STATE_MAGIC) {
        return "not a head state blob (bad magic)";
    }
    if (s->version != MF_HEAD_STATE_VERSION) {
        return "blob version differs from this firmware's";
    }
    if (s->max_classes != MF_HEAD_MAX_CLASSES || s->dim != MF_HEAD_DIM ||
        s->pretrained != MF_HEAD_PRETRAINED_CLASSES || s->layout != MF_HEAD_LAYOUT_HASH) {
        return "blob is for another head (layout hash, dims or classes differ)";
    }
    if (s->crc != blob_crc()) {
        return "blob CRC mismatch (corrupt or not sealed by STATE_INFO)";
    }
    if (s->rule >= MF_RULE_COUNT) {
        return "blob names an unknown rule";
    }
    if (!(s->lr > 0.0f) || !isfinite(s->lr) || s->batch == 0u ||
        (!mf_head_rule_is_batched(s->rule) && s->batch != 1u)) {
        return "blob has a bad lr or batch size";
    }
    if (s->classes < s->pretrained || s->classes > s->max_classes ||
        s->frozen_classes > s->classes || s->batch_fill >= s->batch) {
        return "blob has inconsistent class or batch counters";
    }
    return 0;
}
