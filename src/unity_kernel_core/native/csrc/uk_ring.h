/*
 * Copyright 2026 UnityKernel contributors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * The audit writer ring, in C: the same bytes unity_kernel_core/audit/ring.py reads and writes.
 *
 * Layout (ring.py is the reference): a 64-byte header (magic "UKRING01", capacity u64 at 8,
 * head u64 at 16, tail u64 at 24, closing flag at 32), then `capacity` data bytes. head and
 * tail count bytes ever written and released. A record is <length u32 LE><payload>, never
 * wraps: when it does not fit before the end, 0xFFFFFFFF there (or fewer than 4 bytes left)
 * sends the reader to the start. One aligned 8-byte release store publishes head.
 *
 * An event record's payload (audit/encoder.py's EVENT_HEAD, '<BBHHIQQQQ'): kind u8 (0),
 * tier u8, topic length u16, type length u16, cdr length u32, seq u64, stamp_ns u64, entry ID
 * ms u64, entry ID seq u64 (42 bytes), then the topic, the type name and the CDR bytes.
 *
 * Pure C, no Python: used by the extension module and by the fuzz harness. Every position
 * written is derived from the producer's own head and checked against the capacity, never
 * from the shared memory alone (another process can change the header under us).
 */

#ifndef UNITY_KERNEL_NATIVE_UK_RING_H_
#define UNITY_KERNEL_NATIVE_UK_RING_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UK_RING_MAGIC "UKRING01"
#define UK_RING_HEADER 64u
#define UK_RING_CAP_AT 8u
#define UK_RING_HEAD_AT 16u
#define UK_RING_TAIL_AT 24u
#define UK_RING_CLOSING_AT 32u
#define UK_RING_SKIP 0xFFFFFFFFu
#define UK_EVENT_HEAD 42u
#define UK_KIND_EVENT 0u
#define UK_KIND_ENTRY 1u
#define UK_TIERS 5u

static inline void uk_put_u16(uint8_t * p, uint16_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static inline void uk_put_u32(uint8_t * p, uint32_t v)
{
  for (int i = 0; i < 4; i++) {
    p[i] = (uint8_t)(v >> (8 * i));
  }
}

static inline void uk_put_u64(uint8_t * p, uint64_t v)
{
  for (int i = 0; i < 8; i++) {
    p[i] = (uint8_t)(v >> (8 * i));
  }
}

static inline uint16_t uk_get_u16(const uint8_t * p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t uk_get_u32(const uint8_t * p)
{
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) {
    v = (v << 8) | p[i];
  }
  return v;
}

static inline uint64_t uk_get_u64(const uint8_t * p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) {
    v = (v << 8) | p[i];
  }
  return v;
}

/* head and tail are aligned 8-byte words of the mapping (page aligned + 16/24). */
static inline uint64_t uk_load_word(const uint8_t * base, size_t at)
{
  return __atomic_load_n((const uint64_t *)(const void *)(base + at), __ATOMIC_ACQUIRE);
}

static inline void uk_store_word(uint8_t * base, size_t at, uint64_t v)
{
  __atomic_store_n((uint64_t *)(void *)(base + at), v, __ATOMIC_RELEASE);
}

/* One side's view of a ring: the mapping and its capacity (validated by uk_ring_check). */
typedef struct
{
  uint8_t * base;
  uint64_t cap;
} uk_ring_t;

/*
 * Check a mapping of `size` bytes is a ring; return NULL or why not.
 * The capacity must match the size, head and tail must be consistent.
 */
static inline const char * uk_ring_check(uint8_t * base, size_t size, uk_ring_t * out)
{
  if (base == NULL || size < UK_RING_HEADER) {
    return "not a writer ring (too short)";
  }
  if (((uintptr_t)base & 7u) != 0) {
    return "ring mapping is not 8-byte aligned";
  }
  if (memcmp(base, UK_RING_MAGIC, 8) != 0) {
    return "not a writer ring (bad magic)";
  }
  uint64_t cap = uk_get_u64(base + UK_RING_CAP_AT);
  if (cap == 0 || cap > (uint64_t)size - UK_RING_HEADER || cap + UK_RING_HEADER != size) {
    return "ring capacity does not match the mapping's size";
  }
  uint64_t head = uk_load_word(base, UK_RING_HEAD_AT);
  uint64_t tail = uk_load_word(base, UK_RING_TAIL_AT);
  if (tail > head || head - tail > cap) {
    return "ring head and tail are inconsistent";
  }
  out->base = base;
  out->cap = cap;
  return NULL;
}

/*
 * Producer: where a record of `need` bytes (length word included) goes after `head`.
 * Returns 0 and sets *skip (bytes skipped to the start) and *pos (data offset of the length
 * word), or -1 when it does not fit now (tail read from the mapping). need <= cap - 0 is
 * checked here: a record never overruns the data area whatever the header says.
 */
static inline int uk_ring_room(const uk_ring_t * r, uint64_t head, uint64_t need,
  uint64_t * skip, uint64_t * pos)
{
  uint64_t cap = r->cap;
  if (need > cap || need < 4) {
    return -1;
  }
  uint64_t at = head % cap;
  uint64_t room = cap - at;
  uint64_t s = need > room ? room : 0;
  uint64_t tail = uk_load_word(r->base, UK_RING_TAIL_AT);
  /* tail beyond head (a damaged header) or too far behind: no room, never a bad write */
  if (tail > head || head - tail > cap || head - tail + s + need > cap) {
    return -1;
  }
  *skip = s;
  *pos = s ? 0 : at;
  return 0;
}

/*
 * Producer: when a record of `need` bytes cannot start before the end of the buffer, move the
 * head to the buffer's start now with a skip record, if the skip fits; the record then waits
 * there for room. Without it, a record larger than half the ring waiting in an empty ring
 * would wait forever: the skip it needs and itself never fit together (ring.py's _wrap does
 * the same). Returns the head, published when it moved.
 */
static inline uint64_t uk_ring_wrap(const uk_ring_t * r, uint64_t head, uint64_t need)
{
  uint64_t cap = r->cap;
  uint64_t at = head % cap;
  uint64_t room = cap - at;
  if (at == 0 || need <= room || need > cap) {
    return head;
  }
  uint64_t tail = uk_load_word(r->base, UK_RING_TAIL_AT);
  if (tail > head || head - tail + room > cap) {
    return head;
  }
  if (room >= 4) {
    uk_put_u32(r->base + UK_RING_HEADER + at, UK_RING_SKIP);
  }
  uk_store_word(r->base, UK_RING_HEAD_AT, head + room);
  return head + room;
}

/*
 * Producer: the largest contiguous region for a record starting at `head`, without and with
 * a skip to the start; the one with more room wins. Returns its usable bytes after the
 * length word (0: none) and sets *skip and *pos as uk_ring_room does.
 */
static inline uint64_t uk_ring_region(const uk_ring_t * r, uint64_t head, uint64_t * skip,
  uint64_t * pos)
{
  uint64_t cap = r->cap;
  uint64_t tail = uk_load_word(r->base, UK_RING_TAIL_AT);
  if (tail > head || head - tail > cap) {
    return 0;
  }
  uint64_t free_bytes = cap - (head - tail);
  uint64_t at = head % cap;
  uint64_t room = cap - at;
  uint64_t here = room < free_bytes ? room : free_bytes;
  uint64_t wrapped = free_bytes > room ? free_bytes - room : 0;
  if (wrapped > at) {
    wrapped = at;  /* cannot pass the tail's position (wrapped <= free already says it) */
  }
  if (here >= wrapped) {
    *skip = 0;
    *pos = at;
    return here >= 4 ? here - 4 : 0;
  }
  *skip = room;
  *pos = 0;
  return wrapped >= 4 ? wrapped - 4 : 0;
}

/*
 * Producer: write the skip marker (if any) and the length word of a record of `size`
 * payload bytes whose payload is already at data offset pos + 4; publish the new head.
 * Returns the new head.
 */
static inline uint64_t uk_ring_commit(const uk_ring_t * r, uint64_t head, uint64_t skip,
  uint64_t pos, uint32_t size)
{
  uint8_t * data = r->base + UK_RING_HEADER;
  if (skip) {
    uint64_t at = head % r->cap;
    if (r->cap - at >= 4) {
      uk_put_u32(data + at, UK_RING_SKIP);
    }
  }
  uk_put_u32(data + pos, size);
  uint64_t next = head + skip + 4 + size;
  uk_store_word(r->base, UK_RING_HEAD_AT, next);
  return next;
}

/*
 * Consumer: the next record after `pos` (below `head`). Returns 1 and sets *payload, *size and
 * *next; 0 when there is none; -1 when the ring is damaged (a record overruns the data area
 * or the head).
 */
static inline int uk_ring_next(const uk_ring_t * r, uint64_t head, uint64_t pos,
  const uint8_t ** payload, uint32_t * size, uint64_t * next)
{
  uint64_t cap = r->cap;
  const uint8_t * data = r->base + UK_RING_HEADER;
  while (pos < head) {
    uint64_t at = pos % cap;
    uint64_t room = cap - at;
    if (room < 4) {
      pos += room;
      continue;
    }
    uint32_t n = uk_get_u32(data + at);
    if (n == UK_RING_SKIP) {
      pos += room;
      continue;
    }
    if ((uint64_t)n + 4 > room || pos + 4 + (uint64_t)n > head) {
      return -1;
    }
    *payload = data + at + 4;
    *size = n;
    *next = pos + 4 + n;
    return 1;
  }
  *next = pos;
  return 0;
}

/* The fields of an event record (names point into the record). */
typedef struct
{
  uint8_t tier;
  uint16_t topic_len, type_len;
  uint32_t cdr_len;
  uint64_t seq, stamp_ns, id_ms, id_seq;
  const uint8_t * topic, * type_name, * cdr;
} uk_event_t;

/* Decode an event record's payload; return NULL or what is wrong with it. */
static inline const char * uk_event_decode(const uint8_t * p, uint32_t size, uk_event_t * e)
{
  if (size < UK_EVENT_HEAD) {
    return "event record shorter than its head";
  }
  if (p[0] != UK_KIND_EVENT) {
    return "not an event record";
  }
  e->tier = p[1];
  if (e->tier >= UK_TIERS) {
    return "event record with an unknown tier";
  }
  e->topic_len = uk_get_u16(p + 2);
  e->type_len = uk_get_u16(p + 4);
  e->cdr_len = uk_get_u32(p + 6);
  e->seq = uk_get_u64(p + 10);
  e->stamp_ns = uk_get_u64(p + 18);
  e->id_ms = uk_get_u64(p + 26);
  e->id_seq = uk_get_u64(p + 34);
  if ((uint64_t)UK_EVENT_HEAD + e->topic_len + e->type_len + e->cdr_len != size) {
    return "event record's lengths do not add up to its size";
  }
  e->topic = p + UK_EVENT_HEAD;
  e->type_name = e->topic + e->topic_len;
  e->cdr = e->type_name + e->type_len;
  return NULL;
}

/* Write an event record's 42-byte head at p. */
static inline void uk_event_head(uint8_t * p, uint8_t tier, uint16_t topic_len,
  uint16_t type_len, uint32_t cdr_len, uint64_t seq, uint64_t stamp_ns, uint64_t id_ms,
  uint64_t id_seq)
{
  p[0] = UK_KIND_EVENT;
  p[1] = tier;
  uk_put_u16(p + 2, topic_len);
  uk_put_u16(p + 4, type_len);
  uk_put_u32(p + 6, cdr_len);
  uk_put_u64(p + 10, seq);
  uk_put_u64(p + 18, stamp_ns);
  uk_put_u64(p + 26, id_ms);
  uk_put_u64(p + 34, id_seq);
}

#endif  /* UNITY_KERNEL_NATIVE_UK_RING_H_ */
