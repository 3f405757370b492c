/* hatchway.http._tokenizer: llhttp driven with one Python call per head, not one per field.
 *
 * The compiled build's request tokenizer (docs/build.md).  The pure build drives llhttp through httptools, whose
 * callbacks reach Python five times per request and once more per header field; here the request line and the
 * fields are collected in C and handed to the protocol in one call, `on_head`.  The rest of the interface is
 * httptools' own, so `protocol.RequestParser` runs unchanged on either: the same llhttp (vendor/llhttp, the
 * version httptools vendors), the same exceptions (httptools' classes), the same upgrade and error behaviour.
 *
 * Decisions stay in Python (policy.py).  The C side only enforces the limits that must stop a head as it
 * arrives, exactly where the pure path stops it (the request-target length, and the field count and sizes, checked
 * as each field is complete), and reports a breach through `on_limit`, which makes the Reject.  The few fields the
 * protocol layer looks at (policy.FIELD_KINDS: Host, Content-Length, the singletons...) go to Python as they
 * complete, through `on_field`, so every rule about them is judged at the same point of the stream as in the pure
 * build; only the others are collected in C.
 *
 * Fields are delimited as httptools delimits them: a field ends when the next name begins or the head ends, so a
 * tokenizer error inside a name wins over a limit on the field before it, in both builds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#include "llhttp.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define LLHTTP_VERSION STR(LLHTTP_VERSION_MAJOR) "." STR(LLHTTP_VERSION_MINOR) "." STR(LLHTTP_VERSION_PATCH)

/* Limit codes for on_limit(code): one Reject each in protocol.py. */
#define LIMIT_TARGET 1
#define LIMIT_FIELDS 2

#define MAX_NAMES 32
#define BUF_KEEP 1024
#define MAX_NAME 40

/* Bits of feed_data's return value. */
#define STATE_IN_HEAD 1   /* the input ended inside a head */
#define STATE_BEGAN 2     /* a message began in this input */
#define STATE_URL 4       /* the head in progress has target bytes */
#define STATE_PAUSED 8    /* stopped after the message that used up `room`; the offset is the value >> 4 */

static PyObject *ParserError, *CallbackError, *InvalidMethodError, *InvalidURLError, *UpgradeError;
static PyObject *VERSION_11, *VERSION_10;
static PyObject *METHOD_NAMES[256];
static llhttp_settings_t SETTINGS;  /* the same callbacks for every stream */

/* The names on_field is for (note_fields), lower-case; shared by every tokenizer, as idle connections are many. */
static int NNAMES;
static char NAMES[MAX_NAMES][MAX_NAME + 1];
static unsigned char NAME_LENS[MAX_NAMES];
static uint64_t LENGTHS;  /* bit n: some name in NAMES has n bytes */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

typedef struct {
    PyObject_HEAD
    llhttp_t parser;
    PyObject *on_head, *on_field, *on_body, *on_message_complete, *on_limit;  /* bound methods of the protocol */
    PyObject *headers;      /* list of (name, value) of the head in progress, or NULL */
    PyObject *last_error;   /* what a Python callback raised: the __context__ of the CallbackError */
    Buf url, name, value;
    int have_name, have_value;
    int in_head, began;
    Py_ssize_t size;        /* the head's field bytes: name + value + 4 per field, as the pure path counts */
    Py_ssize_t nfields;     /* field lines of the head so far, dropped ones included */
    Py_ssize_t max_target, max_count, max_size, max_field;
    Py_ssize_t room;        /* heads this feed may still complete before it pauses; < 0: no bound */
} Tokenizer;

static int
buf_add(Buf *b, const char *at, size_t n)
{
    if ((size_t)(b->cap - b->len) < n) {
        Py_ssize_t cap = b->cap ? b->cap : 128;
        while ((size_t)(cap - b->len) < n)
            cap *= 2;
        char *data = PyMem_Realloc(b->data, (size_t)cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, at, n);
    b->len += (Py_ssize_t)n;
    return 0;
}

/* A Python callback failed: keep its exception for the CallbackError that feed_data raises. */
static int
keep_error(Tokenizer *self)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    Py_XSETREF(self->last_error, value);
    return -1;
}

static int
report_limit(Tokenizer *self, int code)
{
    PyObject *arg = PyLong_FromLong(code);
    PyObject *r = arg ? PyObject_CallOneArg(self->on_limit, arg) : NULL;
    Py_XDECREF(arg);
    if (r == NULL)
        return keep_error(self);
    Py_DECREF(r);
    return -1;  /* llhttp stops with HPE_USER: the protocol has recorded its Reject */
}

/* Is `name` one of the fields the protocol layer looks at? */
static int
is_noted(const char *name, Py_ssize_t n)
{
    if (n > MAX_NAME || !(LENGTHS >> n & 1))
        return 0;
    for (int i = 0; i < NNAMES; i++) {
        if (NAME_LENS[i] != n)
            continue;
        const char *want = NAMES[i];
        Py_ssize_t j = 0;
        while (j < n && ((name[j] >= 'A' && name[j] <= 'Z') ? name[j] | 0x20 : name[j]) == want[j])
            j++;
        if (j == n)
            return 1;
    }
    return 0;
}

/* The field in progress is complete: the same checks, in the same order, as RequestParser.on_header. */
static int
finish_field(Tokenizer *self)
{
    if (!self->have_value)
        return 0;
    Py_ssize_t n = self->name.len, vlen = self->value.len;
    while (vlen > 0 && (self->value.data[vlen - 1] == ' ' || self->value.data[vlen - 1] == '\t'))
        vlen--;  /* llhttp strips leading OWS only */
    Py_ssize_t field = n + vlen;
    self->size += field + 4;
    self->have_name = self->have_value = 0;
    self->name.len = self->value.len = 0;
    if (self->nfields++ >= self->max_count || self->size > self->max_size || field > self->max_field)
        return report_limit(self, LIMIT_FIELDS);
    if (self->headers == NULL && (self->headers = PyList_New(0)) == NULL)
        return keep_error(self);
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL)
        return keep_error(self);
    PyObject *k = PyBytes_FromStringAndSize(self->name.data, n);
    PyObject *v = PyBytes_FromStringAndSize(self->value.data, vlen);
    if (k == NULL || v == NULL) {
        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_DECREF(pair);
        return keep_error(self);
    }
    PyTuple_SET_ITEM(pair, 0, k);
    PyTuple_SET_ITEM(pair, 1, v);
    if (is_noted(self->name.data, n)) {
        PyObject *args[3] = {NULL, k, v};
        PyObject *keep = PyObject_Vectorcall(self->on_field, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (keep == NULL) {
            Py_DECREF(pair);
            return keep_error(self);
        }
        int drop = keep == Py_False;
        Py_DECREF(keep);
        if (drop) {  /* a repeated keep-first singleton: counted, not kept */
            Py_DECREF(pair);
            return 0;
        }
    }
    int rc = PyList_Append(self->headers, pair);
    Py_DECREF(pair);
    return rc < 0 ? keep_error(self) : 0;
}

#define SELF(p) ((Tokenizer *)(p)->data)

/* A data callback's return value is llhttp's error code (a notification's -1 becomes HPE_CB_*): as httptools. */
static int
user_error(llhttp_t *p, const char *reason)
{
    llhttp_set_error_reason(p, reason);
    return HPE_USER;
}

static int
cb_message_begin(llhttp_t *p)
{
    Tokenizer *self = SELF(p);
    self->url.len = self->name.len = self->value.len = 0;
    self->have_name = self->have_value = 0;
    self->size = self->nfields = 0;
    Py_CLEAR(self->headers);
    self->in_head = 1;
    self->began = 1;
    return 0;
}

static int
cb_url(llhttp_t *p, const char *at, size_t n)
{
    Tokenizer *self = SELF(p);
    if (buf_add(&self->url, at, n) < 0) {
        keep_error(self);
        return user_error(p, "`on_url` callback error");
    }
    if (self->url.len > self->max_target) {
        report_limit(self, LIMIT_TARGET);
        return user_error(p, "`on_url` callback error");
    }
    return 0;
}

static int
cb_header_field(llhttp_t *p, const char *at, size_t n)
{
    Tokenizer *self = SELF(p);
    if (finish_field(self) < 0)
        return user_error(p, "`on_header_field` callback error");
    self->have_name = 1;
    if (buf_add(&self->name, at, n) < 0) {
        keep_error(self);
        return user_error(p, "`on_header_field` callback error");
    }
    return 0;
}

static int
cb_header_value(llhttp_t *p, const char *at, size_t n)
{
    Tokenizer *self = SELF(p);
    self->have_value = 1;
    if (buf_add(&self->value, at, n) < 0) {
        keep_error(self);
        return user_error(p, "`on_header_value` callback error");
    }
    return 0;
}

static PyObject *
method_name(uint8_t method)
{
    PyObject *name = METHOD_NAMES[method];
    if (name == NULL) {
        name = PyUnicode_InternFromString(llhttp_method_name((llhttp_method_t)method));
        METHOD_NAMES[method] = name;  /* immortal for the process: at most one per method */
    }
    Py_XINCREF(name);
    return name;
}

static int
cb_headers_complete(llhttp_t *p)
{
    Tokenizer *self = SELF(p);
    if (finish_field(self) < 0)
        return -1;
    self->in_head = 0;
    if (self->value.cap > BUF_KEEP) {  /* what one large head needed is not kept by an idle connection */
        PyMem_Free(self->value.data);
        self->value.data = NULL;
        self->value.cap = 0;
    }
    if (self->name.cap > BUF_KEEP) {
        PyMem_Free(self->name.data);
        self->name.data = NULL;
        self->name.cap = 0;
    }
    PyObject *args[8] = {NULL};
    PyObject *result = NULL;
    if (self->headers == NULL && (self->headers = PyList_New(0)) == NULL)
        return keep_error(self);
    args[1] = PyBytes_FromStringAndSize(self->url.data, self->url.len);
    args[2] = self->headers;  /* handed over: the next head gets a new list */
    self->headers = NULL;
    args[3] = PyLong_FromSsize_t(self->size);
    args[4] = method_name(p->method);
    if (p->http_major == 1 && p->http_minor == 1)
        args[5] = Py_NewRef(VERSION_11);
    else if (p->http_major == 1 && p->http_minor == 0)
        args[5] = Py_NewRef(VERSION_10);
    else
        args[5] = PyUnicode_FromFormat("%d.%d", (int)p->http_major, (int)p->http_minor);
    args[6] = Py_NewRef(llhttp_should_keep_alive(p) ? Py_True : Py_False);
    args[7] = Py_NewRef(p->upgrade ? Py_True : Py_False);
    if (args[1] && args[3] && args[4] && args[5])
        result = PyObject_Vectorcall(self->on_head, args + 1, 7 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    for (int i = 1; i < 8; i++)
        Py_XDECREF(args[i]);
    if (self->url.cap > BUF_KEEP) {
        PyMem_Free(self->url.data);
        self->url.data = NULL;
        self->url.cap = 0;
    }
    if (result == NULL)
        return keep_error(self);
    Py_DECREF(result);
    if (self->room > 0)
        self->room--;
    return p->upgrade ? 1 : 0;  /* 1: no body; the upgrade pause follows (as httptools does) */
}

static int
cb_body(llhttp_t *p, const char *at, size_t n)
{
    Tokenizer *self = SELF(p);
    PyObject *data = PyBytes_FromStringAndSize(at, (Py_ssize_t)n);
    PyObject *r = data ? PyObject_CallOneArg(self->on_body, data) : NULL;
    Py_XDECREF(data);
    if (r == NULL) {
        keep_error(self);
        return user_error(p, "`on_body` callback error");
    }
    Py_DECREF(r);
    return 0;
}

static int
cb_message_complete(llhttp_t *p)
{
    Tokenizer *self = SELF(p);
    PyObject *r = PyObject_CallNoArgs(self->on_message_complete);
    if (r == NULL)
        return keep_error(self);
    Py_DECREF(r);
    /* The pipeline is full: stop here, between two messages (never inside a body), so the protocol
       keeps the rest unparsed.  An upgrade pauses on its own. */
    return self->room == 0 && !p->upgrade ? HPE_PAUSED : 0;
}

static int Tokenizer_clear(Tokenizer *self);

static int
Tokenizer_init(Tokenizer *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"protocol", "max_target", "max_count", "max_size", "max_field", NULL};
    PyObject *protocol;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Onnnn", kwlist, &protocol, &self->max_target,
                                     &self->max_count, &self->max_size, &self->max_field))
        return -1;
    Tokenizer_clear(self);  /* __init__ may run twice */
    if ((self->on_head = PyObject_GetAttrString(protocol, "on_head")) == NULL ||
        (self->on_field = PyObject_GetAttrString(protocol, "on_field")) == NULL ||
        (self->on_body = PyObject_GetAttrString(protocol, "on_body")) == NULL ||
        (self->on_message_complete = PyObject_GetAttrString(protocol, "on_message_complete")) == NULL ||
        (self->on_limit = PyObject_GetAttrString(protocol, "on_limit")) == NULL)
        return -1;
    llhttp_init(&self->parser, HTTP_REQUEST, &SETTINGS);
    self->parser.data = self;
    return 0;
}

static PyObject *
note_fields(PyObject *module, PyObject *names)
{
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) > MAX_NAMES) {
        PyErr_Format(PyExc_ValueError, "note_fields takes a tuple of at most %d names", MAX_NAMES);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) == 0 || PyBytes_GET_SIZE(name) > MAX_NAME) {
            PyErr_Format(PyExc_ValueError, "a field name to note is 1 to %d bytes", MAX_NAME);
            return NULL;
        }
    }
    NNAMES = 0;
    LENGTHS = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        Py_ssize_t n = PyBytes_GET_SIZE(name);
        for (Py_ssize_t j = 0; j < n; j++)
            NAMES[i][j] = (char)Py_TOLOWER(PyBytes_AS_STRING(name)[j]);
        NAMES[i][n] = 0;
        NAME_LENS[i] = (unsigned char)n;
        LENGTHS |= (uint64_t)1 << n;
        NNAMES++;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"note_fields", note_fields, METH_O,
     "Set the field names (bytes, any case) that every tokenizer passes to on_field as they complete."},
    {NULL}
};

static PyObject *
parser_error(Tokenizer *self)
{
    llhttp_errno_t err = llhttp_get_errno(&self->parser);
    PyObject *cls;
    switch (err) {
    case HPE_CB_MESSAGE_BEGIN: case HPE_CB_HEADERS_COMPLETE: case HPE_CB_MESSAGE_COMPLETE:
    case HPE_CB_CHUNK_HEADER: case HPE_CB_CHUNK_COMPLETE: case HPE_USER:
        cls = CallbackError;
        break;
    case HPE_INVALID_METHOD:
        cls = InvalidMethodError;
        break;
    case HPE_INVALID_URL:
        cls = InvalidURLError;
        break;
    default:
        cls = ParserError;
    }
    const char *reason = llhttp_get_error_reason(&self->parser);
    PyObject *exc = PyObject_CallFunction(cls, "N",
                                          PyUnicode_DecodeLatin1(reason ? reason : "", reason ? strlen(reason) : 0, NULL));
    if (exc == NULL)
        return NULL;
    if (cls == CallbackError && self->last_error != NULL) {
        PyException_SetContext(exc, self->last_error);  /* steals the reference */
        self->last_error = NULL;
    }
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *
Tokenizer_feed_data(Tokenizer *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const char *buf;
    Py_ssize_t len;
    int owned = 0;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "feed_data(data[, room])");
        return NULL;
    }
    PyObject *data = args[0];
    self->room = -1;
    if (nargs == 2 && (self->room = PyLong_AsSsize_t(args[1])) == -1 && PyErr_Occurred())
        return NULL;
    if (PyBytes_CheckExact(data)) {
        buf = PyBytes_AS_STRING(data);
        len = PyBytes_GET_SIZE(data);
    } else {
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        buf = view.buf;
        len = view.len;
        owned = 1;
    }
    self->began = 0;
    Py_INCREF(self);  /* a callback may drop the protocol's last reference to us */
    llhttp_errno_t err = llhttp_execute(&self->parser, buf, (size_t)len);
    PyObject *result = NULL;
    if (self->parser.upgrade == 1 && err == HPE_PAUSED_UPGRADE) {
        Py_ssize_t at = llhttp_get_error_pos(&self->parser) - buf;
        llhttp_resume_after_upgrade(&self->parser);
        PyObject *exc = PyObject_CallFunction(UpgradeError, "n", at);
        if (exc != NULL) {
            PyErr_SetObject(UpgradeError, exc);
            Py_DECREF(exc);
        }
    } else if (err != HPE_OK && err != HPE_PAUSED) {
        parser_error(self);
    } else {
        Py_ssize_t state = (self->in_head ? STATE_IN_HEAD : 0) | (self->began ? STATE_BEGAN : 0) |
                           (self->url.len ? STATE_URL : 0);
        if (err == HPE_PAUSED) {
            Py_ssize_t at = llhttp_get_error_pos(&self->parser) - buf;
            llhttp_resume(&self->parser);
            state |= STATE_PAUSED | at << 4;
        }
        result = PyLong_FromSsize_t(state);
    }
    if (owned)
        PyBuffer_Release(&view);
    Py_DECREF(self);
    return result;
}

static PyObject *
Tokenizer_get_in_head(Tokenizer *self, void *closure)
{
    return PyBool_FromLong(self->in_head);
}

static int
Tokenizer_traverse(Tokenizer *self, visitproc visit, void *arg)
{
    Py_VISIT(self->on_head);
    Py_VISIT(self->on_field);
    Py_VISIT(self->on_body);
    Py_VISIT(self->on_message_complete);
    Py_VISIT(self->on_limit);
    Py_VISIT(self->headers);
    Py_VISIT(self->last_error);
    return 0;
}

static int
Tokenizer_clear(Tokenizer *self)
{
    Py_CLEAR(self->on_head);
    Py_CLEAR(self->on_field);
    Py_CLEAR(self->on_body);
    Py_CLEAR(self->on_message_complete);
    Py_CLEAR(self->on_limit);
    Py_CLEAR(self->headers);
    Py_CLEAR(self->last_error);
    return 0;
}

static void
Tokenizer_dealloc(Tokenizer *self)
{
    PyObject_GC_UnTrack(self);
    Tokenizer_clear(self);
    PyMem_Free(self->url.data);
    PyMem_Free(self->name.data);
    PyMem_Free(self->value.data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Tokenizer_methods[] = {
    {"feed_data", (PyCFunction)(void (*)(void))Tokenizer_feed_data, METH_FASTCALL,
     "feed_data(data[, room]): tokenize `data`, pausing after the message that completes the room-th head (room > 0);"
     " returns the state bits (1: inside a head, 2: a message began, 4: the head has target bytes, 8: paused, at the"
     " offset value >> 4)."},
    {NULL}
};

static PyGetSetDef Tokenizer_getset[] = {
    {"in_head", (getter)Tokenizer_get_in_head, NULL, "part of a head has arrived, not all of it", NULL},
    {NULL}
};

static PyTypeObject TokenizerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hatchway.http._tokenizer.Tokenizer",
    .tp_basicsize = sizeof(Tokenizer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "llhttp for one request stream, reporting each head to the protocol in one on_head call.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Tokenizer_init,
    .tp_dealloc = (destructor)Tokenizer_dealloc,
    .tp_traverse = (traverseproc)Tokenizer_traverse,
    .tp_clear = (inquiry)Tokenizer_clear,
    .tp_methods = Tokenizer_methods,
    .tp_getset = Tokenizer_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "hatchway.http._tokenizer",
    "llhttp with one Python call per request head (the compiled build's tokenizer).", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__tokenizer(void)
{
    PyObject *errors = PyImport_ImportModule("httptools.parser.errors");
    if (errors == NULL)
        return NULL;
    ParserError = PyObject_GetAttrString(errors, "HttpParserError");
    CallbackError = PyObject_GetAttrString(errors, "HttpParserCallbackError");
    InvalidMethodError = PyObject_GetAttrString(errors, "HttpParserInvalidMethodError");
    InvalidURLError = PyObject_GetAttrString(errors, "HttpParserInvalidURLError");
    UpgradeError = PyObject_GetAttrString(errors, "HttpParserUpgrade");
    Py_DECREF(errors);
    if (!ParserError || !CallbackError || !InvalidMethodError || !InvalidURLError || !UpgradeError)
        return NULL;
    llhttp_settings_init(&SETTINGS);
    SETTINGS.on_message_begin = cb_message_begin;
    SETTINGS.on_url = cb_url;
    SETTINGS.on_header_field = cb_header_field;
    SETTINGS.on_header_value = cb_header_value;
    SETTINGS.on_headers_complete = cb_headers_complete;
    SETTINGS.on_body = cb_body;
    SETTINGS.on_message_complete = cb_message_complete;
    VERSION_11 = PyUnicode_InternFromString("1.1");
    VERSION_10 = PyUnicode_InternFromString("1.0");
    if (VERSION_11 == NULL || VERSION_10 == NULL || PyType_Ready(&TokenizerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Tokenizer", (PyObject *)&TokenizerType) < 0 ||
        PyModule_AddStringConstant(m, "LLHTTP_VERSION", LLHTTP_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
