"""Drive a PAM service through the real libpam with an unbounded conversation.

Usage: pam_drive.py [--confdir DIR] SERVICE USER TOKEN_FILE OP...
       (OP: authenticate, acct_mgmt, setcred, open_session, close_session, hold,
        pause:PATH)

--confdir DIR reads the service from DIR/SERVICE instead of /etc/pam.d (pam_start_confdir,
libpam >= 1.4), so that a stack can be driven without root and without touching /etc.

pamtester answers prompts through libpam_misc's misc_conv, which reads at most 4095
bytes per answer; this driver answers every prompt with the whole first line of
TOKEN_FILE, however long, so that the module's own size limits can be tested. The token
is read from a file so that it never appears in a command line.

"hold" stands for a live login: the process prints "# holding" and waits (as the login's
leader) until a signal ends it; on SIGTERM it closes the session and ends PAM first.

"pause:PATH" stops between two operations (e.g. after authenticate, before open_session,
as an application that asks for more input in between): it prints "# paused" and goes on
once PATH exists; after 120 s without it, it fails with PAM_ABORT.

Prints one line per operation ("# OP: PAM message"), "# message: TEXT" for every text
message (PAM_TEXT_INFO, PAM_ERROR_MSG) the stack sends, and exits with the PAM code of the
first operation that failed, or 0.
"""
import ctypes
import os
import signal
import sys
import time

PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2
PAM_ESTABLISH_CRED = 0x0002


class PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV_FUNC = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(ctypes.POINTER(PamMessage)),
    ctypes.POINTER(ctypes.POINTER(PamResponse)),
    ctypes.c_void_p,
)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


def main():
    args = sys.argv[1:]
    confdir = None
    if len(args) >= 2 and args[0] == "--confdir":
        confdir = args[1]
        args = args[2:]
    if len(args) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    service, user, token_file = args[:3]
    ops = args[3:] or ["authenticate"]
    with open(token_file, "rb") as f:
        answer = f.readline().rstrip(b"\r\n")

    # calloc/strdup as the process resolves them (not libc's own by handle), so that the
    # replies libpam frees come from the same allocator, also under an LD_PRELOADed ASan
    libc = ctypes.CDLL(None)
    libc.calloc.restype = ctypes.c_void_p
    libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    libc.strdup.restype = ctypes.c_void_p
    libc.strdup.argtypes = [ctypes.c_char_p]
    pam = ctypes.CDLL("libpam.so.0")
    pam.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(PamConv),
                              ctypes.POINTER(ctypes.c_void_p)]
    pam.pam_strerror.restype = ctypes.c_char_p
    pam.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
    for name in ("pam_authenticate", "pam_acct_mgmt", "pam_setcred", "pam_open_session",
                 "pam_close_session", "pam_end"):
        getattr(pam, name).argtypes = [ctypes.c_void_p, ctypes.c_int]

    def converse(count, messages, responses, _appdata):
        # The reply array and its strings are freed by libpam: allocate them with malloc.
        replies = libc.calloc(count, ctypes.sizeof(PamResponse))
        if not replies:
            return 5  # PAM_BUF_ERR
        reply = ctypes.cast(replies, ctypes.POINTER(PamResponse))
        for i in range(count):
            message = messages[i].contents
            if message.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                reply[i].resp = libc.strdup(answer)
            elif message.msg:
                print("# message: %s" % message.msg.decode(errors="replace"))
        responses[0] = reply
        return 0

    conv = PamConv(CONV_FUNC(converse), None)
    handle = ctypes.c_void_p()
    if confdir is None:
        rc = pam.pam_start(service.encode(), user.encode(), ctypes.byref(conv),
                           ctypes.byref(handle))
    else:
        pam.pam_start_confdir.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.POINTER(PamConv), ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_void_p)]
        rc = pam.pam_start_confdir(service.encode(), user.encode(), ctypes.byref(conv),
                                   confdir.encode(), ctypes.byref(handle))
    if rc != 0:
        print("pam_start failed: %d" % rc)
        return rc
    status = 0
    for op in ops:
        if op == "authenticate":
            rc = pam.pam_authenticate(handle, 0)
        elif op == "acct_mgmt":
            rc = pam.pam_acct_mgmt(handle, 0)
        elif op == "setcred":
            rc = pam.pam_setcred(handle, PAM_ESTABLISH_CRED)
        elif op == "open_session":
            rc = pam.pam_open_session(handle, 0)
        elif op == "close_session":
            rc = pam.pam_close_session(handle, 0)
        elif op == "hold":
            done = []
            signal.signal(signal.SIGTERM, lambda *_: done.append(1))
            print("# holding", flush=True)
            while not done:
                signal.pause()
            rc = pam.pam_close_session(handle, 0)
        elif op.startswith("pause:"):
            print("# paused", flush=True)
            deadline = time.monotonic() + 120
            while not os.path.exists(op[6:]) and time.monotonic() < deadline:
                time.sleep(0.02)
            rc = 0 if os.path.exists(op[6:]) else 26  # PAM_ABORT
        else:
            print("unknown operation %s" % op)
            rc = 26  # PAM_ABORT
        print("# %s: %s" % (op, pam.pam_strerror(handle, rc).decode()), flush=True)
        if rc != 0:
            status = rc
            break
    pam.pam_end(handle, status)
    return status


if __name__ == "__main__":
    sys.exit(main())
