package display

import "fmt"

// Input asks the user for one line of text: in a notebook an input box under the cell (the
// Jupyter stdin channel), elsewhere a prompt on stderr and a line read from stdin.
func Input(prompt string) (string, error) {
	s, err := CurrentPublisher().Input(prompt, false)
	if err != nil {
		return "", fmt.Errorf("display: input %q: %w", prompt, err)
	}
	return s, nil
}

// Password is [Input] for secrets: the notebook front end does not echo what is typed.
func Password(prompt string) (string, error) {
	s, err := CurrentPublisher().Input(prompt, true)
	if err != nil {
		return "", fmt.Errorf("display: password %q: %w", prompt, err)
	}
	return s, nil
}
