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
 * unity_kernel_core.native._rcl: the kernel's DDS subscriptions taken on native threads.
 *
 * One thread per tier that has subscriptions (CRITICAL on its own), each with an rcl wait set
 * of its subscriptions, their QoS-incompatibility events and a guard condition (commands and
 * stop). The threads never take the GIL. Per message, with the producer's mutex held:
 *
 *   - a topic the audit trail mirrors, with a ring attached: the message is taken
 *     (rcl_take_serialized_message) straight into the largest free region of the ring, after
 *     room for the record's head; then numbered (the kernel's next sequence number), given
 *     its entry ID, and the record published: the only copy of the message is the rmw's
 *     own into the ring. When the message is larger than that region, the rmw asks our
 *     allocator for more and gets the thread's scratch buffer; the record is then copied into
 *     the ring if it fits (a CRITICAL one waits for room, as the bus tap's does), else not
 *     mirrored and counted;
 *   - otherwise the message is taken into the scratch buffer and numbered.
 *
 * A topic an in-process subscriber wants (the `deliver` flag, kept up to date from Python)
 * is then copied into an item of its tier's hand-off (made while the mutex is held, queued
 * after it is released: a full CRITICAL hand-off blocks only this thread). Everything else
 * never reaches the interpreter.
 *
 * The rclpy context and node are shared (their pointers come from rclpy's handles); the
 * Python side stops these threads before it destroys the node or shuts the context down.
 */

#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rcl/error_handling.h>
#include <rcl/event.h>
#include <rcl/guard_condition.h>
#include <rcl/rcl.h>
#include <rcl/subscription.h>
#include <rcl/wait.h>
#include <rcutils/allocator.h>
#include <rmw/qos_string_conversions.h>
#include <rmw/rmw.h>
#include <rmw/serialized_message.h>
#include <rmw/types.h>

#include "uk_core.h"

#define NOTES_MAX 64
#define NOTE_LEN 240
#define TAKES_PER_ROUND 256
#define WAIT_NS 100000000LL
#define COMMAND_TIMEOUT_S 10
#define SCRATCH_START 65536u

static const uk_core_api_t * core;

typedef struct uk_sub
{
  rcl_subscription_t sub;
  rcl_event_t qos_event;
  int has_event;
  uint32_t index;
  uint8_t tier;
  int mirror, deliver;          /* read with __atomic loads: Python changes them */
  char * topic;                 /* NUL-terminated */
  uint8_t * names;              /* the topic's then the type's bytes, as in a record */
  uint16_t topic_len, type_len;
  const rosidl_message_type_support_t * ts;
  rmw_qos_profile_t qos;
  uint64_t received, bytes;     /* read with __atomic loads */
  /* command state (under the thread's mutex) */
  int op;                       /* 1 add, 2 remove */
  int done;
  char error[NOTE_LEN];
  struct uk_sub * next_cmd;
} uk_sub_t;

struct IntakeObject;

typedef struct
{
  struct IntakeObject * owner;
  int tier;
  pthread_t th;
  int started;
  pid_t tid;
  volatile int running;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uk_sub_t * commands;          /* queued add/remove, in order */
  int init_done;
  char init_error[NOTE_LEN];
  rcl_guard_condition_t gc;
  rcl_wait_set_t ws;
  size_t ws_subs, ws_events;
  uk_sub_t ** subs;             /* the thread's live subscriptions (thread-owned) */
  size_t nsubs, cap;
  /* the take in progress (the allocator's state) */
  uint8_t * scratch;
  size_t scratch_cap;
  int in_ring;
  int oversize;
  uint64_t max_message;
  /* counters (read with __atomic loads) */
  /* handoff_dropped: messages for the interpreter that no hand-off item was made for (larger
   * than its bound, no memory); what a hand-off refuses or evicts it counts itself */
  uint64_t taken, take_errors, oversized, wait_errors, handoff_dropped, not_mirrored;
} uk_thread_t;

typedef struct IntakeObject
{
  PyObject_HEAD
  PyObject * producer_obj;
  uk_producer_t * producer;
  PyObject * handoff_objs[UK_TIERS];
  uk_handoff_t * handoffs[UK_TIERS];
  rcl_context_t * context;
  rcl_node_t * node;
  uint64_t max_message;
  uk_thread_t threads[UK_TIERS];
  pthread_mutex_t rcl_mu;       /* one entity made or destroyed at a time on the node */
  pthread_mutex_t mu;           /* next_index, notes */
  uint32_t next_index;
  char notes[NOTES_MAX][NOTE_LEN];
  int nnotes;
  uint64_t notes_lost;
  int closed;
} IntakeObject;

static uint64_t now_ns(clockid_t clock)
{
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void note(IntakeObject * in, const char * fmt, ...)
{
  char text[NOTE_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&in->mu);
  if (in->nnotes < NOTES_MAX) {
    memcpy(in->notes[in->nnotes++], text, sizeof(text));
  } else {
    in->notes_lost++;
  }
  pthread_mutex_unlock(&in->mu);
}

static void rcl_error(char * out, size_t n, const char * what)
{
  snprintf(out, n, "%s: %.180s", what, rcutils_get_error_string().str);
  rcutils_reset_error();
}

/* ---- the allocator the rmw resizes a serialized message with -------------------------- */

static void * alloc_none(size_t size, void * state)
{
  (void)size;
  (void)state;
  return NULL;
}

static void free_none(void * pointer, void * state)
{
  (void)pointer;  /* the ring and the scratch buffer are never the rmw's to free */
  (void)state;
}

static void * zalloc_none(size_t n, size_t size, void * state)
{
  (void)n;
  (void)size;
  (void)state;
  return NULL;
}

/* The rmw found the region too small: move the take to the scratch buffer (bounded). */
static void * realloc_scratch(void * pointer, size_t size, void * state)
{
  (void)pointer;
  uk_thread_t * t = state;
  if ((uint64_t)size > t->max_message || size >= UK_RING_SKIP) {
    t->oversize = 1;
    return NULL;
  }
  if (size > t->scratch_cap) {
    uint8_t * bigger = realloc(t->scratch, size);
    if (bigger == NULL) {
      return NULL;
    }
    t->scratch = bigger;
    t->scratch_cap = size;
  }
  t->in_ring = 0;
  return t->scratch;
}

/* ---- taking ---------------------------------------------------------------------------- */

/* Make the hand-off item of a message (the producer's mutex held); NULL: none to make. */
static uk_item_t * item_of(uk_thread_t * t, uk_sub_t * s, uint64_t seq, uint64_t stamp,
  uint64_t mono, const uint8_t * data, uint32_t len)
{
  uk_handoff_t * h = t->owner->handoffs[s->tier];
  if (h == NULL || (uint64_t)len > h->max_bytes) {
    __atomic_add_fetch(&t->handoff_dropped, 1, __ATOMIC_RELAXED);
    return NULL;
  }
  uk_item_t * it = malloc(sizeof(uk_item_t) + len);
  if (it == NULL) {
    __atomic_add_fetch(&t->handoff_dropped, 1, __ATOMIC_RELAXED);
    return NULL;
  }
  it->next = NULL;
  it->sub = s->index;
  it->seq = seq;
  it->stamp_ns = stamp;
  it->mono_ns = mono;
  it->len = len;
  if (len) {
    memcpy(it->data, data, len);
  }
  return it;
}

/* Copy a record taken into the scratch buffer into the ring (mutex held); 1 written. */
static int scratch_into_ring(uk_thread_t * t, uk_sub_t * s, uint32_t len, uint64_t stamp,
  uint64_t * seq)
{
  uk_producer_t * p = t->owner->producer;
  uint64_t hdr = UK_EVENT_HEAD + s->topic_len + s->type_len;
  uint64_t size = hdr + len;
  if (size >= UK_RING_SKIP || size + 4 > p->ring.cap) {
    p->stats.too_large[s->tier]++;
    return 0;
  }
  uint64_t skip, pos;
  while (uk_ring_room(&p->ring, p->head, size + 4, &skip, &pos) != 0) {
    p->head = uk_ring_wrap(&p->ring, p->head, size + 4);
    if (s->tier != 0 || __atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE) || !t->running) {
      p->stats.ring_full[s->tier]++;
      return 0;
    }
    /* CRITICAL is never dropped for want of room: wait for the writer (as the bus tap's
     * CRITICAL records do); other producers go on meanwhile */
    p->stats.critical_waits++;
    core->unlock(p);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    core->lock(p);
    if (!p->attached) {
      return 0;
    }
  }
  *seq = core->next_seq(p);
  uint64_t ms, id_seq;
  core->issue_id(p, stamp, *seq, &ms, &id_seq);
  uint8_t * rec = p->ring.base + UK_RING_HEADER + pos + 4;
  uk_event_head(rec, s->tier, s->topic_len, s->type_len, len, *seq, stamp, ms, id_seq);
  memcpy(rec + UK_EVENT_HEAD, s->names, (size_t)s->topic_len + s->type_len);
  memcpy(rec + hdr, t->scratch, len);
  p->head = uk_ring_commit(&p->ring, p->head, skip, pos, (uint32_t)size);
  p->stats.records++;
  p->stats.two_copies++;
  return 1;
}

/* Take one message of `s`; 1 taken, 0 none left, -1 an error (counted, noted). */
static int take_one(uk_thread_t * t, uk_sub_t * s)
{
  IntakeObject * in = t->owner;
  uk_producer_t * p = in->producer;
  int deliver = __atomic_load_n(&s->deliver, __ATOMIC_RELAXED);
  int mirror = __atomic_load_n(&s->mirror, __ATOMIC_RELAXED);
  rcl_serialized_message_t msg = rmw_get_zero_initialized_serialized_message();
  msg.allocator.allocate = alloc_none;
  msg.allocator.deallocate = free_none;
  msg.allocator.reallocate = realloc_scratch;
  msg.allocator.zero_allocate = zalloc_none;
  msg.allocator.state = t;
  rmw_message_info_t info = rmw_get_zero_initialized_message_info();
  uint64_t hdr = UK_EVENT_HEAD + s->topic_len + s->type_len;
  uint64_t skip = 0, pos = 0;
  uint8_t * region = NULL;

  core->lock(p);
  t->in_ring = 0;
  t->oversize = 0;
  if (mirror && p->attached) {
    uint64_t room = uk_ring_region(&p->ring, p->head, &skip, &pos);
    if (room > hdr && room - hdr >= 16) {
      region = p->ring.base + UK_RING_HEADER + pos + 4;
      msg.buffer = region + hdr;
      msg.buffer_capacity = (size_t)(room - hdr);
      t->in_ring = 1;
    }
  }
  if (!t->in_ring) {
    msg.buffer = t->scratch;
    msg.buffer_capacity = t->scratch_cap;
  }
  int locked = mirror && p->attached;
  if (!locked) {
    core->unlock(p);  /* nothing of the ring is in use: take without the mutex */
  }
  rcl_ret_t ret = rcl_take_serialized_message(&s->sub, &msg, &info, NULL);
  if (ret == RCL_RET_SUBSCRIPTION_TAKE_FAILED) {
    if (locked) {
      core->unlock(p);
    }
    return 0;
  }
  if (ret != RCL_RET_OK) {
    char why[NOTE_LEN];
    rcl_error(why, sizeof(why), "take");
    if (locked) {
      core->unlock(p);
    }
    if (t->oversize) {
      __atomic_add_fetch(&t->oversized, 1, __ATOMIC_RELAXED);
      note(in, "%s: a message larger than %llu bytes was lost (the native intake's bound)",
        s->topic, (unsigned long long)t->max_message);
    } else {
      __atomic_add_fetch(&t->take_errors, 1, __ATOMIC_RELAXED);
      note(in, "%s: %s", s->topic, why);
    }
    return -1;
  }
  uint64_t stamp = now_ns(CLOCK_REALTIME), mono = now_ns(CLOCK_MONOTONIC);
  size_t len = msg.buffer_length;
  const uint8_t * data = msg.buffer;
  int in_ring = t->in_ring && data == region + hdr;
  if (len > msg.buffer_capacity || (!in_ring && data != t->scratch) || len >= UK_RING_SKIP) {
    if (locked) {
      core->unlock(p);
    }
    __atomic_add_fetch(&t->take_errors, 1, __ATOMIC_RELAXED);
    note(in, "%s: the rmw returned an inconsistent message (%zu bytes)", s->topic, len);
    return -1;
  }
  if (!locked) {
    core->lock(p);
  }
  uint64_t seq = 0;
  int written = 0;
  if (in_ring && p->attached) {
    seq = core->next_seq(p);
    uint64_t ms, id_seq;
    core->issue_id(p, stamp, seq, &ms, &id_seq);
    uk_event_head(region, s->tier, s->topic_len, s->type_len, (uint32_t)len, seq, stamp, ms,
      id_seq);
    memcpy(region + UK_EVENT_HEAD, s->names, (size_t)s->topic_len + s->type_len);
    p->head = uk_ring_commit(&p->ring, p->head, skip, pos, (uint32_t)(hdr + len));
    p->stats.records++;
    p->stats.one_copy++;
    written = 1;
  } else if (mirror && p->attached) {
    written = scratch_into_ring(t, s, (uint32_t)len, stamp, &seq);
    data = t->scratch;  /* the hand-off copies from here either way */
  }
  if (!written) {
    if (mirror) {
      __atomic_add_fetch(&t->not_mirrored, 1, __ATOMIC_RELAXED);
    }
    seq = core->next_seq(p);
  }
  uk_item_t * item = deliver ? item_of(t, s, seq, stamp, mono, data, (uint32_t)len) : NULL;
  core->unlock(p);
  __atomic_add_fetch(&s->received, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&s->bytes, len, __ATOMIC_RELAXED);
  __atomic_add_fetch(&t->taken, 1, __ATOMIC_RELAXED);
  if (item != NULL) {
    core->handoff_enqueue(in->handoffs[s->tier], item);  /* a refusal counts there */
  }
  return 1;
}

/* ---- commands (add / remove a subscription), run by the thread ------------------------ */

static void sub_free(uk_sub_t * s)
{
  free(s->topic);
  free(s->names);
  free(s);
}

static void do_add(uk_thread_t * t, uk_sub_t * s)
{
  IntakeObject * in = t->owner;
  if (t->nsubs == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    pthread_mutex_lock(&t->mu);
    uk_sub_t ** bigger = realloc(t->subs, cap * sizeof(*bigger));
    if (bigger != NULL) {
      t->subs = bigger;
      t->cap = cap;
    }
    pthread_mutex_unlock(&t->mu);
    if (bigger == NULL) {
      snprintf(s->error, sizeof(s->error), "out of memory");
      return;
    }
  }
  rcl_subscription_options_t options = rcl_subscription_get_default_options();
  options.qos = s->qos;
  s->sub = rcl_get_zero_initialized_subscription();
  s->qos_event = rcl_get_zero_initialized_event();
  pthread_mutex_lock(&in->rcl_mu);
  rcl_ret_t ret = rcl_subscription_init(&s->sub, in->node, s->ts, s->topic, &options);
  if (ret != RCL_RET_OK) {
    rcl_error(s->error, sizeof(s->error), "rcl_subscription_init");
    pthread_mutex_unlock(&in->rcl_mu);
    return;
  }
  s->has_event = rcl_subscription_event_init(&s->qos_event, &s->sub,
      RCL_SUBSCRIPTION_REQUESTED_INCOMPATIBLE_QOS) == RCL_RET_OK;
  if (!s->has_event) {
    rcutils_reset_error();
  }
  pthread_mutex_unlock(&in->rcl_mu);
  pthread_mutex_lock(&t->mu);  /* Python reads the list (stats, flags) under it */
  t->subs[t->nsubs++] = s;
  pthread_mutex_unlock(&t->mu);
}

static void sub_fini(uk_thread_t * t, uk_sub_t * s)
{
  IntakeObject * in = t->owner;
  pthread_mutex_lock(&in->rcl_mu);
  if (s->has_event && rcl_event_fini(&s->qos_event) != RCL_RET_OK) {
    rcutils_reset_error();
  }
  if (rcl_subscription_fini(&s->sub, in->node) != RCL_RET_OK) {
    rcutils_reset_error();
  }
  pthread_mutex_unlock(&in->rcl_mu);
}

static void do_remove(uk_thread_t * t, uk_sub_t * s)
{
  for (size_t i = 0; i < t->nsubs; i++) {
    if (t->subs[i] == s) {
      pthread_mutex_lock(&t->mu);
      t->subs[i] = t->subs[--t->nsubs];
      pthread_mutex_unlock(&t->mu);
      sub_fini(t, s);
      return;
    }
  }
}

static void run_commands(uk_thread_t * t)
{
  pthread_mutex_lock(&t->mu);
  uk_sub_t * list = t->commands;
  t->commands = NULL;
  pthread_mutex_unlock(&t->mu);
  while (list != NULL) {
    uk_sub_t * s = list;
    list = s->next_cmd;
    int op = s->op;
    if (op == 1) {
      do_add(t, s);
    } else {
      do_remove(t, s);
    }
    pthread_mutex_lock(&t->mu);
    s->done = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    /* a removed one is freed by the caller once it saw `done` */
  }
}

/* ---- the thread ------------------------------------------------------------------------ */

static int wait_set_fit(uk_thread_t * t)
{
  size_t events = 0;
  for (size_t i = 0; i < t->nsubs; i++) {
    events += t->subs[i]->has_event ? 1 : 0;
  }
  if (t->nsubs != t->ws_subs || events != t->ws_events) {
    if (rcl_wait_set_resize(&t->ws, t->nsubs, 1, 0, 0, 0, events) != RCL_RET_OK) {
      return -1;
    }
    t->ws_subs = t->nsubs;
    t->ws_events = events;
  }
  return 0;
}

static void take_events(uk_thread_t * t)
{
  size_t k = 0;
  for (size_t i = 0; i < t->nsubs; i++) {
    uk_sub_t * s = t->subs[i];
    if (!s->has_event) {
      continue;
    }
    if (k < t->ws.size_of_events && t->ws.events[k] != NULL) {
      rmw_requested_qos_incompatible_event_status_t status;
      memset(&status, 0, sizeof(status));
      if (rcl_take_event(&s->qos_event, &status) == RCL_RET_OK) {
        const char * policy = rmw_qos_policy_kind_to_str(status.last_policy_kind);
        note(t->owner, "%s: QoS incompatible with a publisher (policy %s): messages from it "
          "are not received", s->topic, policy ? policy : "unknown");
      } else {
        rcutils_reset_error();
      }
    }
    k++;
  }
}

static void * thread_main(void * arg)
{
  uk_thread_t * t = arg;
  IntakeObject * in = t->owner;
  t->tid = (pid_t)syscall(SYS_gettid);
  static const char * names[UK_TIERS] = {"intake-critical", "intake-high", "intake-normal",
    "intake-low", "intake-deferred"};
  pthread_setname_np(pthread_self(), names[t->tier]);  /* what top and py-spy show */
  char why[NOTE_LEN] = "";
  t->gc = rcl_get_zero_initialized_guard_condition();
  t->ws = rcl_get_zero_initialized_wait_set();
  pthread_mutex_lock(&in->rcl_mu);
  if (rcl_guard_condition_init(&t->gc, in->context,
    rcl_guard_condition_get_default_options()) != RCL_RET_OK)
  {
    rcl_error(why, sizeof(why), "rcl_guard_condition_init");
  } else if (rcl_wait_set_init(&t->ws, 0, 1, 0, 0, 0, 0, in->context,
    rcl_get_default_allocator()) != RCL_RET_OK)
  {
    rcl_error(why, sizeof(why), "rcl_wait_set_init");
    if (rcl_guard_condition_fini(&t->gc) != RCL_RET_OK) {
      rcutils_reset_error();
    }
  }
  pthread_mutex_unlock(&in->rcl_mu);
  pthread_mutex_lock(&t->mu);
  t->init_done = 1;
  if (why[0]) {
    memcpy(t->init_error, why, sizeof(why));
    t->running = 0;
  }
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (why[0]) {
    return NULL;
  }
  while (t->running) {
    run_commands(t);
    if (!t->running) {
      break;
    }
    if (wait_set_fit(t) != 0 || rcl_wait_set_clear(&t->ws) != RCL_RET_OK) {
      rcl_error(why, sizeof(why), "wait set");
      note(in, "native intake (tier %d): %s", t->tier, why);
      __atomic_add_fetch(&t->wait_errors, 1, __ATOMIC_RELAXED);
      struct timespec pause = {0, 100000000};
      nanosleep(&pause, NULL);
      continue;
    }
    for (size_t i = 0; i < t->nsubs; i++) {
      if (rcl_wait_set_add_subscription(&t->ws, &t->subs[i]->sub, NULL) != RCL_RET_OK) {
        rcutils_reset_error();
      }
      if (t->subs[i]->has_event &&
        rcl_wait_set_add_event(&t->ws, &t->subs[i]->qos_event, NULL) != RCL_RET_OK)
      {
        rcutils_reset_error();
      }
    }
    if (rcl_wait_set_add_guard_condition(&t->ws, &t->gc, NULL) != RCL_RET_OK) {
      rcutils_reset_error();
    }
    rcl_ret_t ret = rcl_wait(&t->ws, WAIT_NS);
    if (ret == RCL_RET_TIMEOUT) {
      continue;
    }
    if (ret != RCL_RET_OK) {
      rcl_error(why, sizeof(why), "rcl_wait");
      __atomic_add_fetch(&t->wait_errors, 1, __ATOMIC_RELAXED);
      note(in, "native intake (tier %d): %s", t->tier, why);
      struct timespec pause = {0, 10000000};
      nanosleep(&pause, NULL);
      continue;
    }
    for (size_t i = 0; i < t->nsubs && i < t->ws.size_of_subscriptions; i++) {
      if (t->ws.subscriptions[i] == NULL) {
        continue;
      }
      for (int k = 0; k < TAKES_PER_ROUND && t->running; k++) {
        if (take_one(t, t->subs[i]) <= 0) {
          break;
        }
      }
    }
    if (t->ws_events) {
      take_events(t);
    }
  }
  run_commands(t);  /* answer what was queued meanwhile (adds fail below) */
  while (t->nsubs) {
    pthread_mutex_lock(&t->mu);
    uk_sub_t * s = t->subs[--t->nsubs];
    pthread_mutex_unlock(&t->mu);
    sub_fini(t, s);
    sub_free(s);  /* Python forgets its indexes when it closes */
  }
  pthread_mutex_lock(&in->rcl_mu);
  if (rcl_wait_set_fini(&t->ws) != RCL_RET_OK) {
    rcutils_reset_error();
  }
  if (rcl_guard_condition_fini(&t->gc) != RCL_RET_OK) {
    rcutils_reset_error();
  }
  pthread_mutex_unlock(&in->rcl_mu);
  return NULL;
}

/* Start the tier's thread (the GIL released by the caller); NULL or why it did not start. */
static const char * thread_start(IntakeObject * in, int tier)
{
  uk_thread_t * t = &in->threads[tier];
  if (t->started) {
    return t->running ? NULL : "the tier's native thread has stopped";
  }
  t->owner = in;
  t->tier = tier;
  t->max_message = in->max_message;
  t->scratch = malloc(SCRATCH_START);
  if (t->scratch == NULL) {
    return "out of memory";
  }
  t->scratch_cap = SCRATCH_START;
  t->running = 1;
  if (pthread_create(&t->th, NULL, thread_main, t) != 0) {
    t->running = 0;
    return "pthread_create failed";
  }
  t->started = 1;
  pthread_mutex_lock(&t->mu);
  while (!t->init_done) {
    pthread_cond_wait(&t->cv, &t->mu);
  }
  pthread_mutex_unlock(&t->mu);
  return t->init_error[0] ? t->init_error : NULL;
}

/* Queue a command and wait until the thread ran it (the GIL released by the caller). */
static int command(uk_thread_t * t, uk_sub_t * s, int op)
{
  pthread_mutex_lock(&t->mu);
  if (!t->running) {
    pthread_mutex_unlock(&t->mu);
    return -1;
  }
  s->op = op;
  s->done = 0;
  s->next_cmd = NULL;
  uk_sub_t ** end = &t->commands;
  while (*end != NULL) {
    end = &(*end)->next_cmd;
  }
  *end = s;
  pthread_mutex_unlock(&t->mu);
  if (rcl_trigger_guard_condition(&t->gc) != RCL_RET_OK) {
    rcutils_reset_error();
  }
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += COMMAND_TIMEOUT_S;
  pthread_mutex_lock(&t->mu);
  while (!s->done) {
    if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT) {
      break;
    }
  }
  int done = s->done;
  pthread_mutex_unlock(&t->mu);
  return done ? 0 : -2;
}

static void thread_stop(uk_thread_t * t)
{
  if (!t->started) {
    return;
  }
  pthread_mutex_lock(&t->mu);
  t->running = 0;
  pthread_mutex_unlock(&t->mu);
  if (t->init_done && !t->init_error[0] && rcl_trigger_guard_condition(&t->gc) != RCL_RET_OK) {
    rcutils_reset_error();
  }
  pthread_join(t->th, NULL);
  t->started = 0;
  free(t->scratch);
  t->scratch = NULL;
  free(t->subs);
  t->subs = NULL;
  t->cap = 0;
}

/* ---- the Python object ------------------------------------------------------------------ */

static PyTypeObject IntakeType;

static PyObject * Intake_new(PyTypeObject * type, PyObject * args, PyObject * kwds)
{
  static char * kwlist[] = {"context", "node", "producer", "handoffs", "max_message_bytes",
    NULL};
  unsigned long long context, node, max_message;
  PyObject * producer, * handoffs;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "KKOOK", kwlist, &context, &node, &producer,
    &handoffs, &max_message))
  {
    return NULL;
  }
  if (context == 0 || node == 0 || max_message == 0 || max_message >= UK_RING_SKIP) {
    PyErr_SetString(PyExc_ValueError, "context and node pointers must be set and "
      "max_message_bytes 1 .. 4 GiB - 2");
    return NULL;
  }
  uk_producer_t * p = core->producer_of(producer);
  if (p == NULL) {
    return NULL;
  }
  PyObject * seq = PySequence_Tuple(handoffs);
  if (seq == NULL) {
    return NULL;
  }
  if (PyTuple_GET_SIZE(seq) != UK_TIERS) {
    Py_DECREF(seq);
    PyErr_SetString(PyExc_ValueError, "expected one hand-off (or None) per tier");
    return NULL;
  }
  IntakeObject * self = (IntakeObject *)type->tp_alloc(type, 0);
  if (self == NULL) {
    Py_DECREF(seq);
    return NULL;
  }
  for (unsigned i = 0; i < UK_TIERS; i++) {
    PyObject * h = PyTuple_GET_ITEM(seq, i);
    if (h != Py_None) {
      uk_handoff_t * hh = core->handoff_of(h);
      if (hh == NULL) {
        Py_DECREF(seq);
        Py_DECREF(self);
        return NULL;
      }
      self->handoff_objs[i] = Py_NewRef(h);
      self->handoffs[i] = hh;
    }
  }
  Py_DECREF(seq);
  self->producer_obj = Py_NewRef(producer);
  self->producer = p;
  self->context = (rcl_context_t *)(uintptr_t)context;
  self->node = (rcl_node_t *)(uintptr_t)node;
  self->max_message = max_message;
  pthread_mutex_init(&self->rcl_mu, NULL);
  pthread_mutex_init(&self->mu, NULL);
  for (unsigned i = 0; i < UK_TIERS; i++) {
    pthread_mutex_init(&self->threads[i].mu, NULL);
    pthread_cond_init(&self->threads[i].cv, NULL);
  }
  self->next_index = 1;
  return (PyObject *)self;
}

static void intake_close(IntakeObject * self)
{
  if (self->closed) {
    return;
  }
  self->closed = 1;
  for (unsigned i = 0; i < UK_TIERS; i++) {
    thread_stop(&self->threads[i]);
  }
}

static void Intake_dealloc(IntakeObject * self)
{
  Py_BEGIN_ALLOW_THREADS
  intake_close(self);
  Py_END_ALLOW_THREADS
  for (unsigned i = 0; i < UK_TIERS; i++) {
    Py_XDECREF(self->handoff_objs[i]);
    pthread_mutex_destroy(&self->threads[i].mu);
    pthread_cond_destroy(&self->threads[i].cv);
  }
  Py_XDECREF(self->producer_obj);
  pthread_mutex_destroy(&self->rcl_mu);
  pthread_mutex_destroy(&self->mu);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_qos(PyObject * qos, rmw_qos_profile_t * out)
{
  int keep_all, best_effort, transient;
  unsigned long long depth, deadline_ns, lifespan_ns;
  if (!PyArg_ParseTuple(qos, "pKppKK", &keep_all, &depth, &best_effort, &transient,
    &deadline_ns, &lifespan_ns))
  {
    return -1;
  }
  if (depth == 0 || depth > 100000) {
    PyErr_SetString(PyExc_ValueError, "QoS depth must be 1..100000");
    return -1;
  }
  *out = rmw_qos_profile_default;
  out->history = keep_all ? RMW_QOS_POLICY_HISTORY_KEEP_ALL : RMW_QOS_POLICY_HISTORY_KEEP_LAST;
  out->depth = (size_t)depth;
  out->reliability = best_effort ? RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT :
    RMW_QOS_POLICY_RELIABILITY_RELIABLE;
  out->durability = transient ? RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL :
    RMW_QOS_POLICY_DURABILITY_VOLATILE;
  if (deadline_ns) {
    out->deadline.sec = deadline_ns / 1000000000ull;
    out->deadline.nsec = deadline_ns % 1000000000ull;
  }
  if (lifespan_ns) {
    out->lifespan.sec = lifespan_ns / 1000000000ull;
    out->lifespan.nsec = lifespan_ns % 1000000000ull;
  }
  return 0;
}

/*
 * add(topic, type_name, type_support, tier, qos, mirror, deliver) -> index: subscribe on the
 * tier's thread (started on first use); raises RuntimeError with rcl's reason.
 */
static PyObject * Intake_add(IntakeObject * self, PyObject * args)
{
  const char * topic, * type_name;
  Py_ssize_t tl, yl;
  PyObject * capsule, * qos;
  int tier, mirror, deliver;
  if (!PyArg_ParseTuple(args, "s#s#OiOpp", &topic, &tl, &type_name, &yl, &capsule, &tier,
    &qos, &mirror, &deliver))
  {
    return NULL;
  }
  if (self->closed) {
    PyErr_SetString(PyExc_RuntimeError, "the native intake is closed");
    return NULL;
  }
  if (tier < 0 || tier >= (int)UK_TIERS) {
    PyErr_Format(PyExc_ValueError, "tier %d is not 0..4", tier);
    return NULL;
  }
  if (tl < 1 || tl > 0xFFFF || yl < 1 || yl > 0xFFFF || topic[0] != '/' ||
    memchr(topic, 0, (size_t)tl) != NULL || memchr(type_name, 0, (size_t)yl) != NULL)
  {
    PyErr_SetString(PyExc_ValueError, "topic must be absolute; topic and type names "
      "1..65535 bytes, without NUL");
    return NULL;
  }
  if (!PyCapsule_IsValid(capsule, NULL)) {
    PyErr_SetString(PyExc_TypeError, "type_support must be a message class's _TYPE_SUPPORT");
    return NULL;
  }
  uk_sub_t * s = calloc(1, sizeof(uk_sub_t));
  if (s == NULL) {
    return PyErr_NoMemory();
  }
  if (parse_qos(qos, &s->qos) < 0) {
    free(s);
    return NULL;
  }
  s->ts = PyCapsule_GetPointer(capsule, NULL);
  s->topic = malloc((size_t)tl + 1);
  s->names = malloc((size_t)tl + (size_t)yl);
  if (s->ts == NULL || s->topic == NULL || s->names == NULL) {
    sub_free(s);
    return PyErr_Occurred() ? NULL : PyErr_NoMemory();
  }
  memcpy(s->topic, topic, (size_t)tl);
  s->topic[tl] = '\0';
  memcpy(s->names, topic, (size_t)tl);
  memcpy(s->names + tl, type_name, (size_t)yl);
  s->topic_len = (uint16_t)tl;
  s->type_len = (uint16_t)yl;
  s->tier = (uint8_t)tier;
  s->mirror = mirror;
  s->deliver = deliver;
  pthread_mutex_lock(&self->mu);
  s->index = self->next_index++;
  pthread_mutex_unlock(&self->mu);
  const char * why;
  int rc = -1;
  Py_BEGIN_ALLOW_THREADS
  why = thread_start(self, tier);
  if (why == NULL) {
    rc = command(&self->threads[tier], s, 1);
  }
  Py_END_ALLOW_THREADS
  if (why != NULL || rc != 0) {
    PyErr_Format(PyExc_RuntimeError, "native intake thread of tier %d: %s", tier,
      why ? why : rc == -2 ? "no answer" : "stopped");
    if (rc != -2) {
      sub_free(s);  /* never queued, or answered: ours again (-2: the thread still has it) */
    }
    return NULL;
  }
  if (s->error[0]) {
    PyErr_Format(PyExc_RuntimeError, "cannot subscribe to %s: %s", s->topic, s->error);
    sub_free(s);
    return NULL;
  }
  return PyLong_FromUnsignedLong(s->index);
}

static uk_sub_t * find_sub(IntakeObject * self, uint32_t index, int * tier)
{
  /* the lists are the threads' own; reading them here is safe because only this object's
   * methods (under the GIL) queue the commands that change them, and they wait for each */
  for (unsigned i = 0; i < UK_TIERS; i++) {
    uk_thread_t * t = &self->threads[i];
    if (!t->started) {
      continue;
    }
    pthread_mutex_lock(&t->mu);
    for (size_t k = 0; k < t->nsubs; k++) {
      if (t->subs[k]->index == index) {
        uk_sub_t * s = t->subs[k];
        pthread_mutex_unlock(&t->mu);
        *tier = (int)i;
        return s;
      }
    }
    pthread_mutex_unlock(&t->mu);
  }
  return NULL;
}

static PyObject * Intake_remove(IntakeObject * self, PyObject * arg)
{
  unsigned long index = PyLong_AsUnsignedLong(arg);
  if (PyErr_Occurred()) {
    return NULL;
  }
  int tier;
  uk_sub_t * s = find_sub(self, (uint32_t)index, &tier);
  if (s == NULL) {
    Py_RETURN_FALSE;
  }
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = command(&self->threads[tier], s, 2);
  Py_END_ALLOW_THREADS
  if (rc == 0) {
    sub_free(s);
  }
  Py_RETURN_TRUE;
}

static PyObject * Intake_set_flags(IntakeObject * self, PyObject * args)
{
  unsigned int index;
  int mirror, deliver;
  if (!PyArg_ParseTuple(args, "Ipp", &index, &mirror, &deliver)) {
    return NULL;
  }
  for (unsigned i = 0; i < UK_TIERS; i++) {
    uk_thread_t * t = &self->threads[i];
    if (!t->started) {
      continue;
    }
    pthread_mutex_lock(&t->mu);  /* the thread removes a subscription under it */
    for (size_t k = 0; k < t->nsubs; k++) {
      uk_sub_t * s = t->subs[k];
      if (s->index == index) {
        __atomic_store_n(&s->mirror, mirror, __ATOMIC_RELAXED);
        __atomic_store_n(&s->deliver, deliver, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&t->mu);
        Py_RETURN_TRUE;
      }
    }
    pthread_mutex_unlock(&t->mu);
  }
  Py_RETURN_FALSE;
}

static PyObject * Intake_thread_id(IntakeObject * self, PyObject * arg)
{
  long tier = PyLong_AsLong(arg);
  if (PyErr_Occurred()) {
    return NULL;
  }
  if (tier < 0 || tier >= (long)UK_TIERS) {
    PyErr_Format(PyExc_ValueError, "tier %ld is not 0..4", tier);
    return NULL;
  }
  uk_thread_t * t = &self->threads[tier];
  return PyLong_FromLong(t->started && t->running ? (long)t->tid : 0);
}

static PyObject * Intake_notes(IntakeObject * self, PyObject * Py_UNUSED(ignored))
{
  char copy[NOTES_MAX][NOTE_LEN];
  pthread_mutex_lock(&self->mu);
  int n = self->nnotes;
  unsigned long long lost = self->notes_lost;
  memcpy(copy, self->notes, sizeof(copy[0]) * (size_t)n);
  self->nnotes = 0;
  self->notes_lost = 0;
  pthread_mutex_unlock(&self->mu);
  PyObject * list = PyList_New(0);
  if (list == NULL) {
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    PyObject * s = PyUnicode_DecodeUTF8(copy[i], (Py_ssize_t)strnlen(copy[i], NOTE_LEN),
        "replace");
    if (s == NULL || PyList_Append(list, s) < 0) {
      Py_XDECREF(s);
      Py_DECREF(list);
      return NULL;
    }
    Py_DECREF(s);
  }
  if (lost) {
    PyObject * s = PyUnicode_FromFormat("(%llu more notes not kept)", lost);
    if (s == NULL || PyList_Append(list, s) < 0) {
      Py_XDECREF(s);
      Py_DECREF(list);
      return NULL;
    }
    Py_DECREF(s);
  }
  return list;
}

static PyObject * Intake_stats(IntakeObject * self, PyObject * Py_UNUSED(ignored))
{
  PyObject * out = PyDict_New(), * subs = PyDict_New();
  if (out == NULL || subs == NULL) {
    Py_XDECREF(out);
    Py_XDECREF(subs);
    return NULL;
  }
  unsigned long long sum[6] = {0, 0, 0, 0, 0, 0};
  for (unsigned i = 0; i < UK_TIERS; i++) {
    uk_thread_t * t = &self->threads[i];
    if (!t->started) {
      continue;
    }
    sum[0] += __atomic_load_n(&t->taken, __ATOMIC_RELAXED);
    sum[1] += __atomic_load_n(&t->take_errors, __ATOMIC_RELAXED);
    sum[2] += __atomic_load_n(&t->oversized, __ATOMIC_RELAXED);
    sum[3] += __atomic_load_n(&t->wait_errors, __ATOMIC_RELAXED);
    sum[4] += __atomic_load_n(&t->handoff_dropped, __ATOMIC_RELAXED);
    sum[5] += __atomic_load_n(&t->not_mirrored, __ATOMIC_RELAXED);
    pthread_mutex_lock(&t->mu);
    for (size_t k = 0; k < t->nsubs; k++) {
      uk_sub_t * s = t->subs[k];
      PyObject * key = PyLong_FromUnsignedLong(s->index);
      PyObject * v = Py_BuildValue("(KK)",
          (unsigned long long)__atomic_load_n(&s->received, __ATOMIC_RELAXED),
          (unsigned long long)__atomic_load_n(&s->bytes, __ATOMIC_RELAXED));
      if (key == NULL || v == NULL || PyDict_SetItem(subs, key, v) < 0) {
        Py_XDECREF(key);
        Py_XDECREF(v);
        pthread_mutex_unlock(&t->mu);
        Py_DECREF(out);
        Py_DECREF(subs);
        return NULL;
      }
      Py_DECREF(key);
      Py_DECREF(v);
    }
    pthread_mutex_unlock(&t->mu);
  }
  const char * names[6] = {"taken", "take_errors", "oversized", "wait_errors",
    "handoff_dropped", "not_mirrored"};
  for (int i = 0; i < 6; i++) {
    PyObject * v = PyLong_FromUnsignedLongLong(sum[i]);
    if (v == NULL || PyDict_SetItemString(out, names[i], v) < 0) {
      Py_XDECREF(v);
      Py_DECREF(out);
      Py_DECREF(subs);
      return NULL;
    }
    Py_DECREF(v);
  }
  if (PyDict_SetItemString(out, "subscriptions", subs) < 0) {
    Py_DECREF(out);
    Py_DECREF(subs);
    return NULL;
  }
  Py_DECREF(subs);
  return out;
}

static PyObject * Intake_close(IntakeObject * self, PyObject * Py_UNUSED(ignored))
{
  Py_BEGIN_ALLOW_THREADS
  intake_close(self);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

static PyMethodDef Intake_methods[] = {
  {"add", (PyCFunction)Intake_add, METH_VARARGS,
    "add(topic, type_name, type_support, tier, qos, mirror, deliver) -> index"},
  {"remove", (PyCFunction)Intake_remove, METH_O, "Destroy the subscription of an index."},
  {"set_flags", (PyCFunction)Intake_set_flags, METH_VARARGS,
    "set_flags(index, mirror, deliver): what to do with the topic's next messages."},
  {"thread_id", (PyCFunction)Intake_thread_id, METH_O,
    "The native thread id of a tier's thread (0: none running)."},
  {"notes", (PyCFunction)Intake_notes, METH_NOARGS,
    "The messages the threads left for the log since the last call."},
  {"stats", (PyCFunction)Intake_stats, METH_NOARGS, "Counters, and (received, bytes) by index."},
  {"close", (PyCFunction)Intake_close, METH_NOARGS,
    "Stop every thread and destroy its subscriptions (before the node goes)."},
  {NULL, NULL, 0, NULL}
};

static PyTypeObject IntakeType = {
  PyVarObject_HEAD_INIT(NULL, 0)
  .tp_name = "unity_kernel_core.native._rcl.Intake",
  .tp_basicsize = sizeof(IntakeObject),
  .tp_dealloc = (destructor)Intake_dealloc,
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_doc = "The kernel's DDS subscriptions on native threads, one per tier.",
  .tp_methods = Intake_methods,
  .tp_new = Intake_new,
};

static struct PyModuleDef rcl_module = {
  PyModuleDef_HEAD_INIT,
  .m_name = "unity_kernel_core.native._rcl",
  .m_doc = "The kernel's DDS subscriptions taken on native threads (rcl).",
  .m_size = -1,
};

PyMODINIT_FUNC PyInit__rcl(void)
{
  core = PyCapsule_Import(UK_CORE_CAPSULE, 0);
  if (core == NULL) {
    return NULL;
  }
  if (core->version != UK_CORE_API_VERSION) {
    PyErr_SetString(PyExc_ImportError, "_core and _rcl were built from different sources");
    return NULL;
  }
  if (PyType_Ready(&IntakeType) < 0) {
    return NULL;
  }
  PyObject * m = PyModule_Create(&rcl_module);
  if (m == NULL) {
    return NULL;
  }
  if (PyModule_AddObjectRef(m, "Intake", (PyObject *)&IntakeType) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
