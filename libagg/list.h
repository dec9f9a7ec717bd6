/* list: an intrusive doubly linked list with a sentinel head (header only, static inline). */
#ifndef AGG_LIST_H
#define AGG_LIST_H

#include <stddef.h>

/* A list_node is embedded in each struct that goes on a list; the list's head
 * is a list_node of its own (the sentinel), so an empty list is a head linked
 * to itself and no operation needs to know which node is first or last. The
 * list owns nothing: the structs stay their owner's, who frees them after
 * list_remove(). A node that is on no list (after list_init() or
 * list_remove()) links to itself, so removing it again is harmless. Nothing
 * here allocates or fails. */
typedef struct list_node {
    struct list_node *prev, *next;
} list_node;

/* The struct of type whose list_node member is node (container_of). */
#define list_entry(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* Makes head an empty list, or node a node on no list. */
static inline void list_init(list_node *n) { n->prev = n->next = n; }

/* 1 when the list of head has no node. */
static inline int list_empty(const list_node *head) { return head->next == head; }

/* 1 when node n is on a list (n was initialised with list_init()). */
static inline int list_linked(const list_node *n) { return n->next != n; }

/* Links n (on no list) after pos; pos may be the head (n becomes the first). */
static inline void list_insert_after(list_node *pos, list_node *n) {
    n->prev = pos;
    n->next = pos->next;
    pos->next->prev = n;
    pos->next = n;
}

/* Links n (on no list) before pos; pos may be the head (n becomes the last). */
static inline void list_insert_before(list_node *pos, list_node *n) {
    list_insert_after(pos->prev, n);
}

/* Unlinks n from its list (a no-op when n is on none); n is then on no list. */
static inline void list_remove(list_node *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* The first node of the list of head; head itself when the list is empty. */
static inline list_node *list_first(const list_node *head) { return head->next; }

/* Moves every node of from, in order, to the end of to; from is left empty. */
static inline void list_splice_tail(list_node *to, list_node *from) {
    if (list_empty(from)) return;
    list_node *first = from->next, *last = from->prev;
    first->prev = to->prev;
    to->prev->next = first;
    last->next = to;
    to->prev = last;
    list_init(from);
}

/* Walks the list of head from first to last with pos (and tmp, the next node,
 * read before the body runs), so the body may list_remove() and free pos.
 * The body must not remove any other node of the list. */
#define list_foreach_safe(pos, tmp, head)                                                          \
    for ((pos) = (head)->next; (pos) != (head) && ((tmp) = (pos)->next, 1); (pos) = (tmp))

#endif
