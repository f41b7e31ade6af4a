"""Reference for bench/dry_run.py: a nine-step linear Metaflow flow that does nothing.
Its wall time is the floor any nine-step flow pays on this machine."""

from metaflow import FlowSpec, step


class BareFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.next(self.b)

    @step
    def b(self):
        self.next(self.c)

    @step
    def c(self):
        self.next(self.d)

    @step
    def d(self):
        self.next(self.e)

    @step
    def e(self):
        self.next(self.f)

    @step
    def f(self):
        self.next(self.g)

    @step
    def g(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BareFlow()
