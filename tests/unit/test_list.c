/* Unit tests for list: the intrusive doubly linked list with a sentinel head. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "list.h"

typedef struct item {
    int id;
    list_node node;
    int pad;
} item;

/* Writes the ids of the list of head in order into out; returns how many. */
static int ids(list_node *head, int *out, int max) {
    int n = 0;
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, head) {
        assert_true(n < max);
        out[n++] = list_entry(pos, item, node)->id;
    }
    return n;
}

static void expect_ids(list_node *head, const int *want, int n) {
    int got[16];
    assert_int_equal(ids(head, got, 16), n);
    for (int i = 0; i < n; i++) assert_int_equal(got[i], want[i]);
    /* and backwards, through prev */
    int i = n;
    for (list_node *p = head->prev; p != head; p = p->prev)
        assert_int_equal(list_entry(p, item, node)->id, want[--i]);
    assert_int_equal(i, 0);
}

static void empty_list(void **state) {
    (void)state;
    list_node head;
    list_init(&head);
    assert_true(list_empty(&head));
    assert_ptr_equal(list_first(&head), &head);
    expect_ids(&head, NULL, 0);
}

static void entry_finds_the_container(void **state) {
    (void)state;
    item it = {.id = 7};
    list_init(&it.node);
    assert_ptr_equal(list_entry(&it.node, item, node), &it);
    assert_false(list_linked(&it.node));
}

static void insert_front_and_back(void **state) {
    (void)state;
    list_node head;
    item a = {.id = 1}, b = {.id = 2}, c = {.id = 3}, d = {.id = 4};
    list_init(&head);
    list_insert_before(&head, &a.node);  /* back: 1 */
    list_insert_before(&head, &b.node);  /* back: 1 2 */
    list_insert_after(&head, &c.node);   /* front: 3 1 2 */
    list_insert_after(&a.node, &d.node); /* after 1: 3 1 4 2 */
    assert_false(list_empty(&head));
    assert_true(list_linked(&a.node));
    assert_ptr_equal(list_first(&head), &c.node);
    expect_ids(&head, (int[]){3, 1, 4, 2}, 4);
}

static void remove_needs_no_head(void **state) {
    (void)state;
    list_node head;
    item a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
    list_init(&head);
    list_insert_before(&head, &a.node);
    list_insert_before(&head, &b.node);
    list_insert_before(&head, &c.node);
    list_remove(&b.node); /* middle */
    expect_ids(&head, (int[]){1, 3}, 2);
    assert_false(list_linked(&b.node));
    list_remove(&b.node); /* again: nothing happens */
    expect_ids(&head, (int[]){1, 3}, 2);
    list_remove(&a.node); /* first */
    expect_ids(&head, (int[]){3}, 1);
    list_remove(&c.node); /* last */
    assert_true(list_empty(&head));
    list_insert_after(&head, &b.node); /* a removed node can go on a list again */
    expect_ids(&head, (int[]){2}, 1);
}

/* Moving a node to the back keeps a least-recently-used order (the gateway's keep-alive list). */
static void move_to_back(void **state) {
    (void)state;
    list_node head;
    item it[4];
    list_init(&head);
    for (int i = 0; i < 4; i++) {
        it[i].id = i;
        list_insert_before(&head, &it[i].node);
    }
    list_remove(&it[1].node);
    list_insert_before(&head, &it[1].node);
    expect_ids(&head, (int[]){0, 2, 3, 1}, 4);
    item *first = list_entry(list_first(&head), item, node);
    assert_int_equal(first->id, 0);
}

static void foreach_safe_removes_and_frees(void **state) {
    (void)state;
    list_node head;
    list_init(&head);
    for (int i = 0; i < 6; i++) {
        item *it = calloc(1, sizeof *it);
        assert_non_null(it);
        it->id = i;
        list_insert_before(&head, &it->node);
    }
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &head) {
        item *it = list_entry(pos, item, node);
        if (it->id % 2 == 0) {
            list_remove(&it->node);
            free(it);
        }
    }
    expect_ids(&head, (int[]){1, 3, 5}, 3);
    list_foreach_safe(pos, tmp, &head) {
        list_remove(pos);
        free(list_entry(pos, item, node));
    }
    assert_true(list_empty(&head));
}

static void splice_moves_everything_in_order(void **state) {
    (void)state;
    list_node to, from;
    item a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
    list_init(&to);
    list_init(&from);
    list_splice_tail(&to, &from); /* empty into empty */
    assert_true(list_empty(&to));
    list_insert_before(&to, &a.node);
    list_insert_before(&from, &b.node);
    list_insert_before(&from, &c.node);
    list_splice_tail(&to, &from);
    assert_true(list_empty(&from));
    expect_ids(&to, (int[]){1, 2, 3}, 3);
    list_splice_tail(&from, &to); /* into an empty list */
    assert_true(list_empty(&to));
    expect_ids(&from, (int[]){1, 2, 3}, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_list),
        cmocka_unit_test(entry_finds_the_container),
        cmocka_unit_test(insert_front_and_back),
        cmocka_unit_test(remove_needs_no_head),
        cmocka_unit_test(move_to_back),
        cmocka_unit_test(foreach_safe_removes_and_frees),
        cmocka_unit_test(splice_moves_everything_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
