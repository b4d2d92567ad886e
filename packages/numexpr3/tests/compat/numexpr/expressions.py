"""numexpr 2's expression builder, spelled as the strings numexpr3 parses."""

from __future__ import annotations


def _text(value):
    return value.text if isinstance(value, _Expression) else repr(value)


def _operator(symbol, swapped=False):
    def method(self, other):
        left, right = (other, self) if swapped else (self, other)
        return _Expression(f"({_text(left)} {symbol} {_text(right)})")

    return method


class _Expression:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text

    __add__, __radd__ = _operator("+"), _operator("+", swapped=True)
    __sub__, __rsub__ = _operator("-"), _operator("-", swapped=True)
    __mul__, __rmul__ = _operator("*"), _operator("*", swapped=True)
    __truediv__, __rtruediv__ = _operator("/"), _operator("/", swapped=True)


class ConstantNode(_Expression):
    """A constant, as its Python repr."""

    def __init__(self, value):
        super().__init__(repr(value))
        self.value = value


class _Variables:
    def __getattr__(self, name):
        return _Expression(name)


E = _Variables()
