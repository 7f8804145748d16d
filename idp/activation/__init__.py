"""Account activation: parents' self-activation by SMS, first login of distributed
accounts (pupils, and parents who could not self-activate), e-mail confirmation."""
