/* Pub/Sub: channel and pattern subscriptions, PUBLISH fan-out.
 *
 * Invariants: a client is in srv.pubsub_channels[ch] iff ch is in its own
 * c->channels (same for patterns); CL_PUBSUB is set iff it has at least one
 * subscription. Messages are RESP3 pushes for RESP3 clients, arrays for
 * RESP2, and go through the normal reply path (so the pubsub class of
 * client-output-buffer-limit applies). */
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"
#include "util/glob.h"

int srv__subscription_count(srv_client *c)
{
    return (int)(c->channels.count + c->patterns.count);
}

static void update_flag(srv_client *c)
{
    if (srv__subscription_count(c))
        c->flags |= CL_PUBSUB;
    else
        c->flags &= ~CL_PUBSUB;
}

static void notify(srv_client *c, const char *kind, const char *ch, size_t len)
{
    reply_push(c, 3);
    reply_bulk(c, kind, strlen(kind));
    if (ch)
        reply_bulk(c, ch, len);
    else
        reply_null(c);
    reply_int(c, srv__subscription_count(c));
}

int srv__subscribe(srv_client *c, const char *ch, size_t len, int pattern)
{
    dict *mine = pattern ? &c->patterns : &c->channels;
    dict *all = pattern ? &srv.pubsub_patterns : &srv.pubsub_channels;
    int added = 0;
    if (!dict_find(mine, ch, len)) {
        dict_add(mine, ch, len, NULL);
        dict_entry *e = dict_find(all, ch, len);
        if (!e) {
            dict *subs = malloc(sizeof(*subs));
            if (!subs) abort();
            dict_init(subs, 0);
            e = dict_add(all, ch, len, subs);
        }
        dict_add(e->val, &c->id, sizeof(c->id), c);
        added = 1;
    }
    update_flag(c);
    notify(c, pattern ? "psubscribe" : "subscribe", ch, len);
    return added;
}

int srv__unsubscribe(srv_client *c, const char *ch, size_t len, int pattern, int notify_client)
{
    dict *mine = pattern ? &c->patterns : &c->channels;
    dict *all = pattern ? &srv.pubsub_patterns : &srv.pubsub_channels;
    int removed = 0;
    if (dict_find(mine, ch, len)) {
        dict_del(mine, ch, len);
        dict_entry *e = dict_find(all, ch, len);
        if (e) {
            dict *subs = e->val;
            dict_del(subs, &c->id, sizeof(c->id));
            if (!subs->count) {
                dict_clear(subs, NULL);
                free(subs);
                dict_del(all, ch, len);
            }
        }
        removed = 1;
    }
    update_flag(c);
    if (notify_client) notify(c, pattern ? "punsubscribe" : "unsubscribe", ch, len);
    return removed;
}

void srv__unsubscribe_all(srv_client *c, int pattern, int notify_client)
{
    dict *mine = pattern ? &c->patterns : &c->channels;
    if (!mine->count) {
        if (notify_client) notify(c, pattern ? "punsubscribe" : "unsubscribe", NULL, 0);
        return;
    }
    /* collect names first: unsubscribing edits the dict being walked */
    size_t n = mine->count, i = 0;
    char **names = malloc(n * sizeof(char *));
    size_t *lens = malloc(n * sizeof(size_t));
    if (!names || !lens) abort();
    dict_iter it;
    dict_iter_init(&it, mine);
    for (dict_entry *e; (e = dict_next(&it)) && i < n; i++) {
        names[i] = malloc(e->klen + 1);
        if (!names[i]) abort();
        memcpy(names[i], e->key, e->klen + 1);
        lens[i] = e->klen;
    }
    for (size_t j = 0; j < i; j++) {
        srv__unsubscribe(c, names[j], lens[j], pattern, notify_client);
        free(names[j]);
    }
    free(names);
    free(lens);
}

long srv__publish(const char *ch, size_t clen, const char *msg, size_t mlen)
{
    long receivers = 0;
    dict_entry *e = dict_find(&srv.pubsub_channels, ch, clen);
    if (e) {
        dict_iter it;
        dict_iter_init(&it, e->val);
        for (dict_entry *se; (se = dict_next(&it));) {
            srv_client *c = se->val;
            reply_push(c, 3);
            reply_bulk(c, "message", 7);
            reply_bulk(c, ch, clen);
            reply_bulk(c, msg, mlen);
            receivers++;
        }
    }
    dict_iter pit;
    dict_iter_init(&pit, &srv.pubsub_patterns);
    for (dict_entry *pe; (pe = dict_next(&pit));) {
        if (!glob_match(pe->key, pe->klen, ch, clen, 0)) continue;
        dict_iter it;
        dict_iter_init(&it, pe->val);
        for (dict_entry *se; (se = dict_next(&it));) {
            srv_client *c = se->val;
            reply_push(c, 4);
            reply_bulk(c, "pmessage", 8);
            reply_bulk(c, pe->key, pe->klen);
            reply_bulk(c, ch, clen);
            reply_bulk(c, msg, mlen);
            receivers++;
        }
    }
    srv.stat_pubsub_msgs++;
    return receivers;
}
