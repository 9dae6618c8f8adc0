#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buffer;

buffer *buffer_new(size_t cap) {
    buffer *b = malloc(sizeof(buffer));
    b->data = malloc(cap);
    b->len = 0;
    b->cap = cap;
    return b;
}

int buffer_append(buffer *b, const char *s, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + n) {
            cap *= 2;
        }
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            return -1;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* Zählt, wie oft das Zeichen c im Puffer vorkommt. */
size_t buffer_count(const buffer *b, char c) {
    size_t n = 0;
    /* Jedes Byte einzeln prüfen */
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == c) {
            n++;
        }
    }
    /* Ergebnis zurückgeben */
    return n;
}

void buffer_free(buffer *b) {
    free(b->data);
}
