/*
 * oneshot-bench launcher: run one implementation as a child of a tiny process.
 *
 *     launcher RUSAGE_OUT PROGRAM [ARGS...]
 *
 * Why: a child inherits its parent's resident pages up to exec, and the kernel's peak-RSS figure
 * (ru_maxrss) keeps them. Forked from the ~45 MiB harness, every implementation would show a
 * peak of at least 45 MiB. Forked from this launcher (about 1 MiB), the figure is the
 * implementation's own. The launcher waits for the child with wait4 and writes its exit status
 * and exact rusage as one JSON line to RUSAGE_OUT; its own exit code mirrors the child's.
 *
 * Nothing outlives the harness: the launcher asks the kernel for SIGKILL when the harness dies
 * (PR_SET_PDEATHSIG), and the job for SIGKILL when the launcher dies, even if the harness itself
 * was killed with SIGKILL.
 */
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: launcher RUSAGE_OUT PROGRAM [ARGS...]\n");
        return 125;
    }
    pid_t harness = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != harness) {
        return 125; /* the harness is already gone */
    }
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "error: launcher: fork failed: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != self) {
            _exit(125);
        }
        execvp(argv[2], argv + 2);
        fprintf(stderr, "error: cannot start %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "error: launcher: wait4 failed: %s\n", strerror(errno));
            return 125;
        }
    }
    FILE *out = fopen(argv[1], "w");
    if (out != NULL) {
        fprintf(out,
                "{\"exited\": %d, \"exit_code\": %d, \"signal\": %d, \"user_s\": %ld.%06ld, "
                "\"sys_s\": %ld.%06ld, \"maxrss_kib\": %ld}\n",
                WIFEXITED(status) ? 1 : 0, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0, (long)ru.ru_utime.tv_sec,
                (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec,
                ru.ru_maxrss);
        fclose(out);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
