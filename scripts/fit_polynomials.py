# Least-squares (relative error) polynomial fits for the vectorized tanh and erf in
# Sources/CKernels/basic_math.h. Run: python3 scripts/fit_polynomials.py (needs numpy).
import numpy as np
from math import erf, erfc, tanh, log
def fit(f, lo, hi, deg, var):
    xs = np.cos(np.linspace(0, np.pi, 2000))*(hi-lo)/2+(hi+lo)/2
    ys = np.array([f(x) for x in xs])
    V = np.vander(var(xs), deg+1, increasing=True)
    w = 1/np.abs(ys)
    c,*_ = np.linalg.lstsq(V*w[:,None], ys*w, rcond=None)
    rel = np.max(np.abs(V@c-ys)/np.abs(ys))
    return c, rel
# tanh(x)/x as poly in x^2 on [0,0.625]
c,r = fit(lambda x: tanh(x)/x if x>1e-9 else 1.0, 1e-6, 0.625, 6, lambda x: x*x); print('tanh', r, list(map(float,c)))
c,r = fit(lambda x: erf(x)/x if x>1e-9 else 2/np.sqrt(np.pi), 1e-6, 1.0, 7, lambda x: x*x); print('erf', r, list(map(float,c)))
c,r = fit(lambda x: log(erfc(x))+x*x, 1.0, 4.0, 10, lambda x: x); print('erfc', r, list(map(float,c)))
